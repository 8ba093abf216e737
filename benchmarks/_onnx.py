"""ONNX Runtime baselines for the encoding benchmarks (not part of the library).

Two configurations a user of ONNX Runtime would build for a SPLADE document encoder:

* ``fastembed``: the masked LM exported as is (``logits [batch, tokens, vocab]`` leave the
  graph) and fastembed's post-processing in NumPy: ``log1p(relu(logits)) * mask``, max over
  tokens;
* ``pooled``: the SPLADE pooling exported inside the graph, so only ``[batch, vocab]`` leaves
  ONNX Runtime.

Both run on all the CPUs the process may use (``usable_cpus()``), batch 32, truncation as
given, padding to the longest text of each batch (what fastembed does).
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from splade_qdrant._threads import usable_cpus


class _Pooled(torch.nn.Module):
    def __init__(self, lm: Any) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.lm(input_ids=input_ids, attention_mask=attention_mask).logits
        return (torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1).to(logits.dtype)).amax(dim=1)


class _Logits(torch.nn.Module):
    def __init__(self, lm: Any) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.lm(input_ids=input_ids, attention_mask=attention_mask).logits


class OrtSplade:
    """One exported configuration (``"fastembed"`` or ``"pooled"``) of a masked LM in ONNX Runtime."""

    def __init__(self, lm: Any, tokenizer: Any, kind: str, *, max_length: int = 256, batch_size: int = 32) -> None:
        import onnxruntime as ort

        self.kind, self.tok, self.max_length, self.batch_size = kind, tokenizer, max_length, batch_size
        # a copy: exporting leaves tracing state in the module (its eager outputs change afterwards)
        wrapper = (_Pooled if kind == "pooled" else _Logits)(copy.deepcopy(lm).eval())
        self._dir = tempfile.mkdtemp(prefix="sq-onnx-")
        path = os.path.join(self._dir, f"{kind}.onnx")
        ids = torch.ones((2, 8), dtype=torch.long)
        axes = {"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}}
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(wrapper, (ids, ids), path, input_names=["input_ids", "attention_mask"], output_names=["out"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = usable_cpus()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[len(texts), vocab]`` SPLADE weights, input order."""
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tok(list(texts[i : i + self.batch_size]), truncation=True, max_length=self.max_length, padding=True,
                           return_tensors="np")
            feed = {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)}
            (res,) = self.session.run(None, feed)
            if self.kind != "pooled":  # fastembed's post-processing, in NumPy
                res = (np.log1p(np.maximum(res, 0)) * feed["attention_mask"][..., None]).max(axis=1)
            out.append(res.astype(np.float32))
        return np.concatenate(out)
