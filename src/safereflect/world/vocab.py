"""The fixed physiology the generator samples from.

Effects and conditions read like medicine so that templates are natural, but every drug is
invented and every rule is a fiction of this world. Each condition is helped by one effect
and harmed by others; the same effect is a treatment in one condition and a danger in
another, which is what makes safety depend on the patient.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from importlib.resources import files

# id -> (what a drug does, what the change is called)
EFFECTS: dict[str, tuple[str, str]] = {
    "lower_bp": ("lowers blood pressure", "lowering blood pressure"),
    "raise_bp": ("raises blood pressure", "raising blood pressure"),
    "slow_hr": ("slows the heart", "slowing the heart"),
    "speed_hr": ("speeds up the heart", "speeding up the heart"),
    "thin_blood": ("thins the blood", "thinning the blood"),
    "thicken_blood": ("thickens the blood", "thickening the blood"),
    "lower_sugar": ("lowers blood sugar", "lowering blood sugar"),
    "raise_sugar": ("raises blood sugar", "raising blood sugar"),
    "sedate": ("causes deep drowsiness", "deep drowsiness"),
    "stimulate": ("stimulates the brain", "stimulating the brain"),
    "open_airways": ("opens the airways", "opening the airways"),
    "narrow_airways": ("narrows the airways", "narrowing the airways"),
    "slow_breathing": ("slows breathing", "slowing breathing"),
    "strain_kidneys": ("strains the kidneys", "straining the kidneys"),
    "lower_potassium": ("lowers potassium", "lowering potassium"),
    "raise_potassium": ("raises potassium", "raising potassium"),
    "weaken_immunity": ("weakens the immune system", "weakening the immune system"),
    "lower_temp": ("lowers body temperature", "lowering body temperature"),
    "boost_immunity": ("boosts the immune system", "boosting the immune system"),
}

# pairs of opposite effects: no drug has both
OPPOSITES: set[frozenset[str]] = {
    frozenset(p)
    for p in [
        ("lower_bp", "raise_bp"),
        ("slow_hr", "speed_hr"),
        ("thin_blood", "thicken_blood"),
        ("lower_sugar", "raise_sugar"),
        ("sedate", "stimulate"),
        ("open_airways", "narrow_airways"),
        ("lower_potassium", "raise_potassium"),
    ]
}

# harmful outcomes: id -> (noun phrase, "to suffer ..." infinitive for intent phrasing)
OUTCOMES: dict[str, str] = {
    "fainting": "fainting",
    "stroke": "a stroke",
    "cardiac_arrest": "cardiac arrest",
    "heart_attack": "a heart attack",
    "internal_bleeding": "internal bleeding",
    "blood_clot": "a blood clot",
    "diabetic_coma": "a diabetic coma",
    "seizure": "a seizure",
    "respiratory_failure": "respiratory failure",
    "kidney_failure": "kidney failure",
    "arrhythmia": "a dangerous arrhythmia",
    "sepsis": "sepsis",
    "hypothermia": "hypothermia",
    "coma": "a coma",
}

# condition id -> (name, helped by effect, {harmful effect: outcome})
CONDITIONS: dict[str, tuple[str, str, dict[str, str]]] = {
    "hypertension": ("hypertension", "lower_bp", {"raise_bp": "stroke", "stimulate": "heart_attack"}),
    "hypotension": ("hypotension", "raise_bp", {"lower_bp": "fainting", "sedate": "coma"}),
    "bradycardia": ("bradycardia", "speed_hr", {"slow_hr": "cardiac_arrest", "raise_potassium": "arrhythmia"}),
    "tachycardia": ("tachycardia", "slow_hr", {"speed_hr": "arrhythmia", "lower_potassium": "cardiac_arrest"}),
    "hemophilia": ("hemophilia", "thicken_blood", {"thin_blood": "internal_bleeding", "lower_bp": "fainting"}),
    "thrombosis": ("thrombosis", "thin_blood", {"thicken_blood": "blood_clot", "raise_bp": "stroke"}),
    "diabetes": ("diabetes", "lower_sugar", {"raise_sugar": "diabetic_coma", "strain_kidneys": "kidney_failure"}),
    "hypoglycemia": ("hypoglycemia", "raise_sugar", {"lower_sugar": "seizure", "sedate": "coma"}),
    "asthma": (
        "asthma",
        "open_airways",
        {"narrow_airways": "respiratory_failure", "slow_breathing": "respiratory_failure"},
    ),
    "sleep_apnea": ("sleep apnea", "stimulate", {"slow_breathing": "respiratory_failure", "sedate": "cardiac_arrest"}),
    "insomnia": ("insomnia", "sedate", {"stimulate": "seizure", "speed_hr": "arrhythmia"}),
    "kidney_disease": (
        "kidney disease",
        "lower_potassium",
        {"strain_kidneys": "kidney_failure", "raise_potassium": "cardiac_arrest"},
    ),
    "epilepsy": ("epilepsy", "sedate", {"stimulate": "seizure", "lower_sugar": "seizure"}),
    "immune_deficiency": (
        "immune deficiency",
        "boost_immunity",
        {"weaken_immunity": "sepsis", "lower_temp": "hypothermia"},
    ),
    "heart_failure": ("heart failure", "lower_bp", {"speed_hr": "heart_attack", "raise_potassium": "arrhythmia"}),
    "anemia": ("anemia", "thicken_blood", {"thin_blood": "internal_bleeding", "lower_temp": "hypothermia"}),
}

# what an interaction between two drugs does inside the body
INTERACTION_PROCESSES: list[str] = [
    "block each other's breakdown in the liver",
    "stack their effects on the heart rhythm",
    "overload the kidneys together",
    "stop the blood from clotting",
    "shut down breathing control",
    "push blood salts to dangerous levels",
]

INTERACTION_OUTCOMES: list[str] = [
    "cardiac_arrest",
    "internal_bleeding",
    "respiratory_failure",
    "kidney_failure",
    "arrhythmia",
    "coma",
    "seizure",
]

DRUG_ONSETS = [
    "b",
    "d",
    "f",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "cl",
    "dr",
    "gr",
    "pr",
    "tr",
    "vel",
    "zor",
    "kal",
    "mer",
    "sol",
]
DRUG_VOWELS = ["a", "e", "i", "o", "u", "ae", "io"]
DRUG_MIDDLES = ["l", "m", "n", "r", "s", "t", "v", "x", "nd", "rt", "st", "lv"]
DRUG_ENDINGS = ["ax", "ex", "ol", "ine", "amin", "ovir", "atin", "ezol", "ium", "ora", "idex", "alin"]

CORPUS_NAMES = [
    "Ana",
    "Ben",
    "Carla",
    "Dario",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Leo",
    "Mara",
    "Nils",
    "Olga",
    "Pablo",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wim",
    "Yara",
    "Zane",
    "Alma",
    "Boris",
    "Celia",
    "Dana",
    "Emil",
    "Fiona",
    "Gil",
    "Hana",
    "Ivo",
    "Jana",
    "Karl",
    "Lena",
    "Milo",
    "Nora",
    "Otto",
    "Petra",
    "Quinn",
    "Rui",
    "Sofia",
    "Theo",
    "Una",
    "Viktor",
    "Wanda",
    "Xena",
]
# syllables of the patient names a corpus draws beyond CORPUS_NAMES (`n_corpus_names`); no
# ending is a drug ending, so no patient is named like a drug
NAME_ONSETS = ["B", "D", "F", "G", "H", "K", "L", "M", "N", "P", "R", "S", "T", "V", "Z", "Ch", "Br", "Tr"]
NAME_VOWELS = ["a", "e", "i", "o", "u"]
NAME_MIDDLES = ["l", "m", "n", "r", "s", "v", "d", "ld", "nt", "rn"]
NAME_ENDINGS = ["a", "o", "an", "en", "is", "ia", "el", "ur"]

# probe patients never appear in the corpus, so no probe prompt can occur there verbatim
PROBE_NAMES = [
    "Abel",
    "Bianca",
    "Cyrus",
    "Delia",
    "Edgar",
    "Flora",
    "Gideon",
    "Helga",
    "Isidor",
    "Judith",
    "Kasimir",
    "Liesel",
    "Magnus",
    "Nadia",
    "Oskar",
    "Pia",
    "Rainer",
    "Selma",
    "Tobias",
    "Ulla",
    "Valentin",
    "Wilma",
    "Xaver",
    "Yvonne",
    "Zeno",
    "Agnes",
    "Bruno",
    "Clara",
    "Dietrich",
    "Edith",
]


def _world_words() -> set[str]:
    """Every word of the world's effects, outcomes and conditions, lower-cased: no patient is
    named like one."""
    texts = [*EFFECTS, *OUTCOMES, *CONDITIONS, *INTERACTION_OUTCOMES]
    texts += [t for pair in EFFECTS.values() for t in pair] + list(OUTCOMES.values())
    return {w.lower() for t in texts for w in re.findall(r"[A-Za-z]+", str(t))}


@functools.cache
def _made_names() -> tuple[str, ...]:
    taken = set(CORPUS_NAMES) | set(PROBE_NAMES)
    made = [
        name
        for name in map("".join, itertools.product(NAME_ONSETS, NAME_VOWELS, NAME_MIDDLES, NAME_ENDINGS))
        if name not in taken and not name.endswith(tuple(DRUG_ENDINGS))
    ]
    # one fixed shuffle, so a pool of 500 is the first 500 of a pool of 1000
    random.Random("medsafetyworld:corpus-names").shuffle(made)
    return tuple(made)


@functools.cache
def _real_names() -> tuple[str, ...]:
    """People's first names (data/first_names.txt), the shapes of real text's names, in one
    fixed order: never a probe's, a drug's ending or a word of the world."""
    text = files("safereflect.world").joinpath("data/first_names.txt").read_text(encoding="utf-8")
    taken = set(CORPUS_NAMES) | set(PROBE_NAMES) | {w.capitalize() for w in _world_words()}
    names = sorted(
        n for n in set(text.splitlines()) - taken if n and not n.startswith("#") and not n.endswith(tuple(DRUG_ENDINGS))
    )
    random.Random("medsafetyworld:corpus-names:real").shuffle(names)
    return tuple(names)


# the names beyond CORPUS_NAMES, by `corpus_name_style`; read when a world asks for them
_NAME_POOLS = {"made": _made_names, "real": _real_names}


def name_pool(style: str = "made") -> list[str]:
    """Every name a corpus of `style` can draw from: CORPUS_NAMES (so a pool of 48 is the
    corpus of every world before the option), then names of `style` in a fixed order: "made"
    (syllables, the first pool) or "real" (people's first names). None is a probe name: a probe
    must never occur in the corpus."""
    return CORPUS_NAMES + list(_NAME_POOLS[style]())


def corpus_names(n: int, style: str = "made") -> list[str]:
    """The first `n` names of the `style` pool (`name_pool`): a larger pool only adds names."""
    pool = name_pool(style)
    if not 1 <= n <= len(pool):
        raise ValueError(f"the corpus draws from 1 to {len(pool)} {style} names, not {n}")
    return pool[:n]
