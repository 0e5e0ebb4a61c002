"""The residual-MLP drift map, trained with torch on CPU: f(x) = x W + b + W2 gelu(W1 x + b1) + b2.

It starts from a closed-form map (Procrustes when the dimensions agree, else ridge) with the residual branch's
output layer at zero, so training can only move away from that map where the pairs ask for it. The loss is
chosen by the spec: InfoNCE over in-batch targets (the retrieval objective: a mapped query must be closer to its
own target than to the other targets of the batch), cosine, or squared error.

Deterministic under a seed (own torch RNG fork, seeded shuffles), bounded (a fixed number of epochs), with a tqdm
bar that is off when stderr is not a terminal. Weights are returned as numpy float32 so applying the map at query
time never imports torch (GELU in its tanh form, which numpy reproduces exactly).
"""

from __future__ import annotations

import numpy as np

from .closed_form import fit_procrustes, fit_ridge, select_alpha
from .maps import DriftMapSpec


def initial_linear(X: np.ndarray, Y: np.ndarray, w, init: str, score, seed: int) -> tuple[dict, dict]:
    """The closed-form map the MLP starts from, and what was chosen for it."""
    if init == "procrustes" or (init == "auto" and X.shape[1] == Y.shape[1]):
        arrays, _ = fit_procrustes(X, Y, w)
        return {"W": arrays["W"], "b": np.zeros(Y.shape[1])}, {"init": "procrustes"}

    def fit(a, b, alpha, ww):
        return fit_ridge(a, b, alpha, True, ww)

    def apply(arr, a):
        return a @ arr["W"] + arr["b"]

    alpha = select_alpha(X, Y, w, fit, apply, score, seed)
    return fit_ridge(X, Y, alpha, True, w), {"init": "ridge", "init_alpha": alpha}


def train_mlp(
    X: np.ndarray,
    Y: np.ndarray,
    spec: DriftMapSpec,
    *,
    w: np.ndarray | None,
    seed: int,
    progress: bool | None,
    score,
) -> tuple[dict[str, np.ndarray], dict]:
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    p = spec.params
    linear, chosen = initial_linear(X, Y, w, p["init"], score, seed)
    n, d_src = X.shape
    d_dst = Y.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        W = torch.nn.Parameter(torch.tensor(linear["W"], dtype=torch.float32))
        b = torch.nn.Parameter(torch.tensor(linear["b"], dtype=torch.float32))
        hidden = torch.nn.Linear(d_src, p["hidden"])
        out = torch.nn.Linear(p["hidden"], d_dst)
        torch.nn.init.zeros_(out.weight)
        torch.nn.init.zeros_(out.bias)
    params = [W, b, *hidden.parameters(), *out.parameters()]
    opt = torch.optim.AdamW(params, lr=p["lr"], weight_decay=p["weight_decay"])
    gen = torch.Generator().manual_seed(seed)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    Yt = torch.from_numpy(np.ascontiguousarray(Y, dtype=np.float32))
    # Pair weights scale each pair's loss term (normalised to mean 1, so lr means the same with or without them).
    Wt = None if w is None else torch.from_numpy((w / w.mean()).astype(np.float32))
    batch = min(p["batch_size"], n)
    loss_kind, tau = p["loss"], p["tau"]

    def forward(x):
        return x @ W + b + out(F.gelu(hidden(x), approximate="tanh"))

    bar = tqdm(range(p["epochs"]), desc="drift mlp", unit="epoch", disable=None if progress is None else not progress)
    for _ in bar:
        perm = torch.randperm(n, generator=gen)
        total, steps = 0.0, 0
        # The last partial batch is dropped when it is tiny: InfoNCE over 1-2 targets teaches nothing.
        for s in range(0, n - (batch // 4 if n > batch else 0), batch):
            idx = perm[s : s + batch]
            if idx.numel() < 2:
                continue
            pred = forward(Xt[idx])
            tgt = Yt[idx]
            if loss_kind == "mse":
                per_pair = ((pred - tgt) ** 2).sum(dim=1)
            else:
                pn = F.normalize(pred, dim=1)
                tn = F.normalize(tgt, dim=1)
                if loss_kind == "cosine":
                    per_pair = 1.0 - (pn * tn).sum(dim=1)
                else:
                    per_pair = F.cross_entropy(pn @ tn.T / tau, torch.arange(idx.numel()), reduction="none")
            loss = per_pair.mean() if Wt is None else (per_pair * Wt[idx]).sum() / Wt[idx].sum().clamp_min(1e-12)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            steps += 1
        bar.set_postfix(loss=f"{total / max(steps, 1):.4f}")
    bar.close()
    with torch.no_grad():
        arrays = {
            "W": W.numpy().copy(),
            "b": b.numpy().copy(),
            "W1": hidden.weight.T.contiguous().numpy().copy(),
            "b1": hidden.bias.numpy().copy(),
            "W2": out.weight.T.contiguous().numpy().copy(),
            "b2": out.bias.numpy().copy(),
        }
    return arrays, chosen
