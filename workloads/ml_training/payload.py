#!/usr/bin/env python3
"""criu-lab ml_training workload (the seed's deep-learning scenario): trains an MLP of the
seed's --model-size on a seeded synthetic classification set (a Gaussian mixture, so the loss
falls from the first steps), Adam at --learning-rate, --batch-size rows a step, for --epochs
epochs (0 = forever), on --device (cpu, the default, as the seed's framework; cuda only when asked:
CRIU checkpoints a CUDA context only with its cuda plugin). Needs torch (Debian: python3-torch).

Parameters change every step, so "the parameters at the freeze" must be kept to be compared:
every status write first copies them into one of two slots (alternating) and reports that
slot's checksum. CRIU's restore creates the process anew, so its start time in /proc/self/stat
changes; the first loop iteration after that notices it, before the next status write can touch
either slot, and re-hashes both slots from memory. The slot holding the frozen status's step is
untouched, so its re-hash must equal the checksum the controller read.

Protocol (payload_protocol.py, uploaded beside us):
checkpoint_flag exists while we may be migrated; we write checkpoint_ready ("ready:<pid>");
workload_status.json is replaced by rename every STATUS_S; when checkpoint_flag goes we write
workload_final.json (with the re-hash made right after the restore) and exit 0.
"""
import collections
import hashlib
import os
import sys
import time

import torch

import payload_protocol as protocol

SEED = 20261126
STATUS_S = 0.5
LOSS_WINDOW = 20
CLASS_SHIFT = 8.0
MODEL_SIZES = {  # input, hidden layers, classes, samples (the seed's table)
    "small": (256, [512, 256, 128], 10, 10_000),
    "medium": (512, [1024, 512, 256, 128], 100, 50_000),
    "large": (1024, [2048, 1024, 512, 256, 128], 1000, 100_000),
}


def build(model_size, dataset_size, device):
    inputs, hidden, classes, default_samples = MODEL_SIZES[model_size]
    samples = dataset_size or default_samples
    generator = torch.Generator().manual_seed(SEED)
    # A Gaussian mixture: class c shifts input c, so the loss falls within tens of steps at any size.
    labels = torch.randint(0, classes, (samples,), generator=generator)
    features = torch.randn(samples, inputs, generator=generator)
    features[torch.arange(samples), labels] += CLASS_SHIFT
    torch.manual_seed(SEED)
    layers, width = [], inputs
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    layers.append(torch.nn.Linear(width, classes))
    return torch.nn.Sequential(*layers).to(device), features.to(device), labels.to(device)


def slot_checksum(slot):
    return hashlib.sha256(slot.cpu().numpy()).hexdigest()


def main():
    parser = protocol.arguments(__doc__)
    parser.add_argument("--model-size", choices=sorted(MODEL_SIZES), default="medium")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--dataset-size", type=int, default=0, help="0 = the model size's default")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    protocol.enter_working_dir(args)

    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device on this node; use --device cpu")
    model, features, labels = build(args.model_size, args.dataset_size, device)
    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=args.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(SEED + 1)
    parameter_count = sum(p.numel() for p in params)
    slots = [torch.empty(parameter_count, device=device) for _ in range(2)]
    slot_steps = [None, None]
    next_slot = 0
    step = epoch = 0
    losses = collections.deque(maxlen=LOSS_WINDOW)
    loss_first = None
    restore_check = None  # both slots re-hashed right after the last restore
    losses_since_restore = []
    born = protocol.start_time()

    def snapshot():
        """Copies the parameters into the next slot and returns its checksum."""
        nonlocal next_slot
        slot, offset = slots[next_slot], 0
        for p in params:
            slot[offset : offset + p.numel()].copy_(p.detach().reshape(-1))
            offset += p.numel()
        slot_steps[next_slot] = step
        next_slot = 1 - next_slot
        return slot_checksum(slot)

    def status(phase, checksum):
        return {
            "pid": os.getpid(),
            "counter": step,
            "phase": phase,
            "checksum": checksum,
            "epoch": epoch,
            "model_size": args.model_size,
            "parameters": parameter_count,
            "samples": len(features),
            "device": device,
            "loss_first": loss_first,
            "loss_recent": sum(losses) / len(losses) if losses else None,
            "restore_check": restore_check,
            "loss_since_restore": sum(losses_since_restore) / len(losses_since_restore) if losses_since_restore else None,
            "time": time.time(),
        }

    protocol.write_status(status("warming", snapshot()))
    protocol.signal_ready(f"model={args.model_size} parameters={parameter_count} samples={len(features)} device={device}")
    last_status = time.time()
    batches = iter(())

    while True:
        if protocol.start_time() != born:
            born = protocol.start_time()
            losses_since_restore = []
            restore_check = {"at_step": step, "slots": [{"step": s, "checksum": slot_checksum(t)} for s, t in zip(slot_steps, slots)]}
            protocol.log(f"restored at step {step}: parameter slots re-hashed {restore_check['slots']}")
        if protocol.restored():
            final = status("final", snapshot())
            protocol.write_final(final)
            protocol.log(f"checkpoint_flag removed: restore complete, step={step}, exiting")
            sys.exit(0)
        batch = next(batches, None)
        if batch is None and args.epochs and epoch >= args.epochs:
            time.sleep(STATUS_S)
            protocol.write_status(status("done", snapshot()))
            continue
        if batch is None:
            epoch += 1
            batches = iter(torch.randperm(len(features), generator=order).split(args.batch_size))
            continue
        optimizer.zero_grad()
        loss = loss_fn(model(features[batch.to(device)]), labels[batch.to(device)])
        loss.backward()
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if restore_check is not None:
            losses_since_restore.append(losses[-1])
        if loss_first is None and len(losses) == LOSS_WINDOW:
            loss_first = sum(losses) / LOSS_WINDOW
        if time.time() - last_status >= STATUS_S:
            protocol.write_status(status("training", snapshot()))
            last_status = time.time()
            if step % 500 < 10:
                protocol.log(f"step {step} epoch {epoch} loss {sum(losses) / len(losses):.4f}")


if __name__ == "__main__":
    main()
