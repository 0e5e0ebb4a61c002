"""Training of learned recurrent binarization (after Gan et al. 2023, "Binary Embedding-based Retrieval at
Tencent"), embedding-to-embedding on the collection's own vectors, with torch on the CPU.

Model (per plane i = 0..u, weights a_i = 2^-i):
    z_i = W_i r_i + c_i (+ MLP_i(r_i) when hidden > 0),   b_i = sign(z_i) in {-1, +1}^m
    x_hat_i = x_hat_{i-1} + D_i b_i + e_i,                r_0 = x,  r_{i+1} = x - x_hat_i
The code of a vector is (b_0 .. b_u); two vectors are compared by <B_q, B_x> with B = sum_i a_i b_i.

Initialisation is the untrained recurrent sign quantizer: W_i a random rotation (scaled so z has unit mean
magnitude), D_i the least-squares decoder of the residual from b_i. Training then preserves neighbour ranking:
for each anchor, a listwise distillation loss (KL divergence between the softmax of the float similarities and
the softmax of the code similarities) over its mined nearest neighbours plus the other vectors of the batch,
plus a reconstruction loss that keeps the residual chain meaningful. sign() is trained with a straight-through
estimator (tanh gradient). The best epoch on a held-out sample (recall@10 of code search against exact search
among the training vectors, epoch 0 = the initialisation) is kept, so training never returns a worse codec than
its starting point on that measure.
"""

from __future__ import annotations

import math

import numpy as np

from .base import random_orthogonal
from .progress import progress_bar

_GELU_C = math.sqrt(2.0 / math.pi)


def gelu(x: np.ndarray) -> np.ndarray:
    """tanh-approximated GELU, the same formula as torch.nn.GELU(approximate="tanh")."""
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x**3)))


def encode_planes(x: np.ndarray, params: dict[str, np.ndarray], planes: int, hidden: int) -> list[np.ndarray]:
    """Numpy inference: the sign planes (z >= 0) of each vector, as booleans (n, m) per plane."""
    out = []
    r = x
    xh = np.zeros_like(x)
    for i in range(planes):
        z = r @ params[f"enc_w{i}"].T + params[f"enc_b{i}"]
        if hidden:
            h = gelu(r @ params[f"mlp1_w{i}"].T + params[f"mlp1_b{i}"])
            z = z + h @ params[f"mlp2_w{i}"].T + params[f"mlp2_b{i}"]
        bits = z >= 0
        out.append(bits)
        if i + 1 < planes:
            b = np.where(bits, np.float32(1), np.float32(-1))
            xh = xh + b @ params[f"dec_w{i}"].T + params[f"dec_b{i}"]
            r = x - xh
    return out


def decode_planes(signs: list[np.ndarray], params: dict[str, np.ndarray]) -> np.ndarray:
    xh = 0
    for i, b in enumerate(signs):
        xh = xh + b @ params[f"dec_w{i}"].T + params[f"dec_b{i}"]
    return np.asarray(xh, np.float32)


def _recurrent_scale(z: np.ndarray, planes: int) -> float:
    """The step c minimising ||z - c * sum_i 2^-i b_i||^2 for recurrent sign codes of z (a small grid search
    around the mean magnitude; planes > 1 make the best step larger than mean |z|)."""
    base = float(np.abs(z).mean()) or 1.0
    best, best_err = base, np.inf
    for f in np.linspace(0.6, 1.8, 25):
        c = base * f
        r = z
        for i in range(planes):
            r = r - c * 0.5**i * np.where(r >= 0, 1.0, -1.0)
        err = float((r**2).mean())
        if err < best_err:
            best, best_err = c, err
    return best


def init_params(
    x: np.ndarray, planes: int, code_dim: int, hidden: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The untrained recurrent sign quantizer in a random rotation R: z = R x, b_i = sign of the residual,
    x_hat = R^+ (c * sum_i 2^-i b_i). Every plane shares R, so plane i refines the same coordinates as plane 0
    at half the step and <B_q, B_x> is a sensible score; learned decoders then start from these."""
    d = x.shape[1]
    rot = random_orthogonal(code_dim, d, rng)
    back = np.linalg.pinv(rot).astype(np.float32)  # (d, code_dim): R^T for a rotation
    z = x @ rot.T
    c = _recurrent_scale(z, planes)
    params: dict[str, np.ndarray] = {}
    r = z
    for i in range(planes):
        step = c * 0.5**i
        params[f"enc_w{i}"] = (rot / step).astype(np.float32)  # z / step: unit scale for the tanh estimator
        params[f"enc_b{i}"] = np.zeros(code_dim, np.float32)
        if hidden:
            params[f"mlp1_w{i}"] = (rng.standard_normal((hidden, d)) * math.sqrt(2.0 / d) / step).astype(np.float32)
            params[f"mlp1_b{i}"] = np.zeros(hidden, np.float32)
            params[f"mlp2_w{i}"] = np.zeros((code_dim, hidden), np.float32)  # starts as the linear quantizer
            params[f"mlp2_b{i}"] = np.zeros(code_dim, np.float32)
        params[f"dec_w{i}"] = (back * step).astype(np.float32)
        params[f"dec_b{i}"] = np.zeros(d, np.float32)
        r = r - step * np.where(r >= 0, 1.0, -1.0)
    return params


def similarity(a, b, metric: str):
    """Teacher similarity (larger = closer) for torch tensors: inner product, or -squared L2."""
    if metric == "l2":
        return -((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :])
    return a @ b.T


def _neighbours(x, metric: str, k: int, chunk: int = 2048):
    import torch

    out = []
    idx = torch.arange(x.shape[0])
    for s in range(0, x.shape[0], chunk):
        sims = similarity(x[s : s + chunk], x, metric)
        sims[torch.arange(sims.shape[0]), idx[s : s + chunk]] = -float("inf")
        out.append(torch.topk(sims, k, dim=1).indices)
    return torch.cat(out)


def _recall_ids(found, truth) -> float:
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / max(truth.numel(), 1)


class _Binarizer:
    """The torch side: parameters as tensors initialised from numpy, a differentiable forward."""

    def __init__(self, params: dict[str, np.ndarray], planes: int, hidden: int) -> None:
        import torch

        self.planes, self.hidden = planes, hidden
        self.p = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}

    def forward(self, x, hard: bool = False):
        """(B = sum_i a_i b_i, reconstruction loss) with straight-through sign (hard=True: exact signs)."""
        import torch
        import torch.nn.functional as F

        p = self.p
        r = x
        xh = torch.zeros_like(x)
        code = 0
        recon = 0
        for i in range(self.planes):
            z = F.linear(r, p[f"enc_w{i}"], p[f"enc_b{i}"])
            if self.hidden:
                h = F.gelu(F.linear(r, p[f"mlp1_w{i}"], p[f"mlp1_b{i}"]), approximate="tanh")
                z = z + F.linear(h, p[f"mlp2_w{i}"], p[f"mlp2_b{i}"])
            hard_b = torch.where(z >= 0, 1.0, -1.0)
            b = hard_b if hard else torch.tanh(z) + (hard_b - torch.tanh(z)).detach()
            code = code + (0.5**i) * b
            xh = xh + F.linear(b, p[f"dec_w{i}"], p[f"dec_b{i}"])
            recon = recon + ((x - xh) ** 2).sum(1).mean()
            r = x - xh
        return code, recon / self.planes

    def numpy_params(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().astype(np.float32).copy() for k, v in self.p.items()}


def train(
    x: np.ndarray,
    metric: str,
    *,
    planes: int,
    code_dim: int,
    hidden: int,
    epochs: int,
    batch_size: int,
    neighbours: int,
    lr: float,
    temperature: float,
    recon_weight: float,
    validation: int,
    seed: int,
    progress: bool | None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the recurrent binarizer on x (n, d); returns (numpy parameters, training log)."""
    import torch

    rng = np.random.default_rng(seed)
    n = x.shape[0]
    n_val = min(validation, n // 5) if epochs > 0 else 0
    perm = rng.permutation(n)
    val_x, tr_x = x[perm[:n_val]], x[perm[n_val:]]
    params = init_params(tr_x, planes, code_dim, hidden, rng)
    log: dict = {"train_rows": int(tr_x.shape[0]), "validation_rows": int(n_val), "epochs": []}
    if epochs == 0 or tr_x.shape[0] < 2:
        return params, log

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        xt = torch.from_numpy(np.ascontiguousarray(tr_x, dtype=np.float32))
        k_nn = min(neighbours, xt.shape[0] - 1)
        nn_idx = _neighbours(xt, metric, k_nn) if k_nn > 0 else torch.zeros((xt.shape[0], 0), dtype=torch.long)
        pairs = torch.from_numpy(rng.integers(0, xt.shape[0], size=(2, 20_000)))
        a_, b_ = xt[pairs[0]], xt[pairs[1]]
        paired = -((a_ - b_) ** 2).sum(1) if metric == "l2" else (a_ * b_).sum(1)
        spread = float(paired.std()) or 1.0
        tau = temperature * spread
        log["teacher_temperature"] = tau
        model = _Binarizer(params, planes, hidden)
        m = float(code_dim)

        val = None
        if n_val:
            vx = torch.from_numpy(np.ascontiguousarray(val_x, dtype=np.float32))
            k_eval = min(10, xt.shape[0])
            val = (vx, torch.topk(similarity(vx, xt, metric), k_eval, dim=1).indices, k_eval)

        def val_recall() -> float | None:
            if val is None:
                return None
            vx, truth, k_eval = val
            with torch.no_grad():
                bq, _ = model.forward(vx, hard=True)
                bx = torch.cat([model.forward(xt[s : s + 8192], hard=True)[0] for s in range(0, len(xt), 8192)])
                found = torch.topk(bq @ bx.T, k_eval, dim=1).indices
            return _recall_ids(found, truth)

        # Student logits gamma * <Ba, Bc> / m: start gamma at the teacher's scale (least-squares slope).
        with torch.no_grad():
            a0 = torch.from_numpy(rng.choice(xt.shape[0], min(256, xt.shape[0]), replace=False))
            ba, _ = model.forward(xt[a0], hard=True)
            sb = (ba @ ba.T / m).flatten()
            sf = similarity(xt[a0], xt[a0], metric).flatten()
            slope = float(((sb - sb.mean()) * (sf - sf.mean())).sum() / ((sb - sb.mean()) ** 2).sum().clamp_min(1e-12))
        log_gamma = torch.nn.Parameter(torch.tensor(math.log(max(slope, 1e-6) / tau), dtype=torch.float32))
        # Decoders move 10x slower: they shape every later plane's residual, and Adam's normalised steps are large
        # relative to their small weights (measured: full-speed decoders undo the initialisation's alignment).
        groups = [
            {"params": [p for k, p in model.p.items() if not k.startswith("dec")], "lr": lr},
            {"params": [p for k, p in model.p.items() if k.startswith("dec")], "lr": lr * 0.1},
            {"params": [log_gamma], "lr": 1e-2},
        ]
        opt = torch.optim.Adam(groups)
        x_scale = float((xt * xt).sum(1).mean()) or 1.0

        best = val_recall()
        best_params, best_epoch = model.numpy_params(), 0
        log["epochs"].append({"epoch": 0, "validation_recall": best})
        steps = max(1, xt.shape[0] // batch_size)
        with progress_bar(epochs * steps, "learned binarization", progress) as bar:
            for epoch in range(1, epochs + 1):
                order = torch.from_numpy(rng.permutation(xt.shape[0]))
                total = 0.0
                for s in range(steps):
                    a = order[s * batch_size : (s + 1) * batch_size]
                    cand = torch.unique(torch.cat([a, nn_idx[a].reshape(-1)]))
                    pos = torch.searchsorted(cand, a)
                    xc = xt[cand]
                    bc, recon = model.forward(xc)
                    ba = bc[pos]
                    self_mask = a[:, None] == cand[None, :]
                    with torch.no_grad():
                        teacher = (similarity(xt[a], xc, metric) / tau).masked_fill(self_mask, -1e9)
                    student = (torch.exp(log_gamma) * (ba @ bc.T) / m).masked_fill(self_mask, -1e9)
                    kl = torch.nn.functional.kl_div(
                        torch.log_softmax(student, 1),
                        torch.log_softmax(teacher, 1),
                        log_target=True,
                        reduction="batchmean",
                    )
                    loss = kl + recon_weight * recon / x_scale
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                    bar.update(1)
                rec = val_recall()
                log["epochs"].append({"epoch": epoch, "loss": total / steps, "validation_recall": rec})
                if rec is None or rec > best:  # without a validation sample, the last epoch wins
                    best, best_params, best_epoch = rec, model.numpy_params(), epoch
        log["best_epoch"] = best_epoch
        log["best_validation_recall"] = best
    return best_params, log
