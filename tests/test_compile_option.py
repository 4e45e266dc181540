"""`compile=True` trains through the compiled module (torch.compile's eager backend here, so
the test takes seconds: the inductor backend compiles for minutes on two cores)."""
import torch

import sparsekit as sk


def test_a_compiled_model_trains(monkeypatch):
    compiled = []
    real_compile = torch.compile

    def eager_compile(model, **options):
        compiled.append(model)
        return real_compile(model, backend="eager")
    monkeypatch.setattr(torch, "compile", eager_compile)
    record = sk.train(dataset="digits", model="resnet20", width=0.25, mask="random", sparsity=0.9, epochs=1,
                      max_batches=2, batch_size=16, compile=True, progress=False)
    assert len(compiled) == 1 and record["epochs"][0]["train_loss"] > 0
