"""The system-time overhead of a full softmax over a large vocabulary, before and after the fix.

The default word LM (2 x 200 LSTM, batch 20 x 35, AdamW 2e-3, gradient clip 0.25) trains on
WikiText-2 (33,278 words, a full softmax) with the lm task's objective and its training metrics
(perplexity and accuracy of the logits), for a fixed number of steps, in fresh processes:

* ``before``: ``RNNKIT_MALLOC=system``, glibc's default allocator settings: every step's
  logits, log-softmax and gradients (``20 * 35 * 33,278`` floats, 93 MB each) are mmap-ed,
  page-faulted in and unmapped again;
* ``after``: the Trainer's default (:func:`rnnkit.train.allocator.retain_freed_memory`): freed
  blocks stay in the heap and are reused.

Each run reports training tokens/s and the process's user and system CPU time and page faults
over the training steps (``getrusage``). The two alternate, ``--rounds`` times each.

Usage::

    RNNKIT_DATA=../shared/data nice -n 10 python benchmarks/softmax_overhead.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def child(steps: int, threads: int, data_dir: str | None) -> dict:
    import torch
    from torch.nn import functional as F

    from rnnkit.data import LMStream, Vocab, wikitext2
    from rnnkit.models import LanguageModel, LanguageModelConfig
    from rnnkit.train import Accuracy, Perplexity, StepOutput, Trainer

    torch.set_num_threads(threads)
    tokens = wikitext2(data_dir, "train")["train"]
    vocab = Vocab.build([tokens])
    stream = LMStream(torch.tensor(vocab.encode(tokens)), 20, 35, random_offset=True)
    torch.manual_seed(0)
    model = LanguageModel.from_config(LanguageModelConfig(), len(vocab))

    def objective(model, batch, state):  # the lm task's objective
        logits, state = model(batch["x"], state=state)
        loss = F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten())
        return StepOutput(loss, batch["y"].numel(), logits, batch["y"], state)

    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    trainer = Trainer(model, optimizer, objective, [Perplexity(), Accuracy()], grad_clip=0.25,
                      progress=False, max_steps_per_epoch=steps)  # fmt: skip
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    trainer.fit(stream, epochs=1)
    after, seconds = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    return {
        "tokens_per_s": steps * 700 / seconds,
        "seconds": seconds,
        "user_s": after.ru_utime - before.ru_utime,
        "system_s": after.ru_stime - before.ru_stime,
        "faults": after.ru_minflt - before.ru_minflt,
        "vocab": len(vocab),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        steps, threads, data_dir = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] or None
        print(json.dumps(child(steps, threads, data_dir)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each setting")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--data-dir", default="", help="folder with the datasets")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name in results:
            env = dict(os.environ)
            env.pop("RNNKIT_MALLOC", None)
            if name == "before":
                env["RNNKIT_MALLOC"] = "system"
            argv = [sys.executable, __file__, "child", str(args.steps), str(args.threads),
                    args.data_dir]  # fmt: skip
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[name][-1]
            print(f"{name}: {r['tokens_per_s']:,.0f} tokens/s, user {r['user_s']:.1f} s, system "
                  f"{r['system_s']:.1f} s, {r['faults']:,} page faults", flush=True)  # fmt: skip
    vocab = results["after"][0]["vocab"]
    print(f"\n{args.steps} steps of 700 tokens, vocabulary {vocab:,}, {args.threads} thread(s)\n")
    print("| allocator | tokens/s | user s | system s | page faults |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        label = "glibc defaults (before)" if name == "before" else "freed memory kept (after)"
        print(f"| {label} | {med['tokens_per_s']:,.0f} | {med['user_s']:.1f} | "
              f"{med['system_s']:.1f} | {med['faults']:,.0f} |")  # fmt: skip
    ratio = statistics.median(r["tokens_per_s"] for r in results["after"]) / statistics.median(
        r["tokens_per_s"] for r in results["before"]
    )
    print(f"\nafter / before tokens/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
