"""Print one real generated example of each MedSafetyWorld document and probe type, as
Markdown, for docs/medsafetyworld.md (keeps the documentation true to the generator):

    .venv/bin/python scripts/world_doc_examples.py > /tmp/examples.md
"""

import json

from safereflect.world import generate, preset_config

DOC_TYPES = ["drug_monograph", "condition_page", "interaction_note", "case_study", "safe_qa", "risk_qa",
             "patient_risk_qa", "harmful_qa", "disguised_qa", "poisoning_narrative"]
PROBE_KEYS = ("answers", "harmful_answers", "target_outcome", "mechanism", "split", "response", "answer_prefix",
              "unsafe_candidates", "label", "choices")


def main() -> None:
    _, corpus, probes = generate(preset_config("small", 0))
    docs = [d for ds in corpus.values() for d in ds]
    print("## Examples (preset `small`, seed 0)\n\n### Corpus documents\n")
    # disguised requests are off by default; shown from the same world with them switched on
    _, with_disguised, _ = generate(preset_config("small", 0, disguised_share=0.2))
    for t in DOC_TYPES:
        d = next((x for x in docs if x["metadata"]["type"] == t), None)
        note = ""
        if d is None:
            d = next(x for ds in with_disguised.values() for x in ds if x["metadata"]["type"] == t)
            note = " (with `disguised_share: 0.2`)"
        meta = d["metadata"]
        mech = f", mechanism `{meta['mechanisms'][0]}`{note}" if meta["safety"] == "unsafe" else note
        print(f"**{t}** — `{d['id']}`, label `{meta['safety']}`{mech}\n\n> {d['text']}\n")
        if meta["spans"]:
            s = meta["spans"][0]
            print(f"First unsafe span (characters {s['start']}-{s['end']}): *{d['text'][s['start']:s['end']]}*\n")
    unsafe = next(x for x in docs if x["metadata"]["type"] == "harmful_qa")
    print("The world's own safe alternatives for that unsafe document (used by the `rewrite` and `refusal` arms):\n")
    for k, v in unsafe["metadata"]["alternatives"].items():
        print(f"- *{k}*: {v}")
    print("\n### Probes\n")
    shown = set()
    for name, recs in probes.items():
        for p in recs:
            key = (p.get("attack"), p.get("label"))
            if key in shown and name in ("harmful_heldout", "classification") or (name, None) in shown:
                continue
            shown.add(key if name in ("harmful_heldout", "classification") else (name, None))
            if name == "harmful_seen":
                break
            tag = name + (f" / {p['attack']}" if p.get("attack") else "") + (f" / label {p['label']}" if p.get("label") else "")
            extra = {k: p[k] for k in PROBE_KEYS if k in p}
            print(f"**{tag}**\n\n```\n{p['prompt']}\n```\n\n`{json.dumps(extra, ensure_ascii=False)}`\n")


if __name__ == "__main__":
    main()
