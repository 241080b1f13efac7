"""Phrases that mean life, health or property is at risk right now. Shared by the Rasa component
(bot/nlu_components.py) and the data tests; no Rasa imports here.

The classifier learns emergencies from examples, but an emergency is the one intent where a miss
costs more than a false alarm: the emergency answer starts with 112 and then gives the
municipality's number, so a resident who was not in danger loses one line of reading. These
patterns catch what the statistics may miss. They are matched against the lower-cased text with
accents folded (å/ä -> a, ö -> o), as the featurizers see it, and must match no training or
held-out example of another intent (tests/test_nlu_data.py).
"""
from __future__ import annotations

import re

from bot.nlu_data import folded

PATTERNS = [
    r"\b112\b", r"\bnodlage\b", r"\blivsfara\b", r"\bakut fara\b",
    r"\bambulans\b", r"\bring (polisen|raddningstjansten|brandkaren)\b",
    # fire, smoke, gas
    r"\bbrinn(er|ande)\b", r"\bbrand\b", r"\bbrandrok\b", r"\brok(en)? (valler|overallt)\b", r"\bborjat brinna\b", r"\belden (har )?sprid",
    r"\bi lagor\b", r"\b(full|fullt|fylld|fyllt) (av|med) rok\b", r"\btjock (svart )?rok\b",
    r"\b(luktar|lukt av) gas\b", r"\bgaslukt\b", r"\bgaslacka\b",
    # someone's body is failing
    r"\bandas (inte|knappt)\b", r"\bmedvetslos\b", r"\blivlos\b", r"\bhjartstopp\b", r"\bhjartattack\b",
    r"\bont i brostet\b", r"\bblod(er|ar) (mycket|kraftigt|jattemycket)\b", r"\bforgiftad\b",
    r"\bslutat andas\b", r"\b(foll|segnade|segnat) ihop\b", r"\bligger (nagon|en man|en kvinna|ett barn) i vattnet\b", r"\bskriker pa hjalp\b",
    r"\b(druckit|svalt|svalde|atit) (propplosare|klorin|lut|diskmedel|maskindiskmedel|tvattmedel|rattgift)\b",
    r"\bbarn (gar|springer) (ensamt |ensam )?(mitt )?pa (motorvagen|vagen|sparet)\b", r"\binlast i en (het |varm )?bil\b", r"\bgar inte att vacka\b", r"\bsegnat ihop\b", r"\bkrampanfall\b",
    # water and ice
    r"\bdrunkn", r"\b(gatt|gick|ramlat|ramlade) (igenom|genom|ner i) isen\b",
    r"\b(ramlat|ramlade|fallit|foll) i (sjon|vattnet|alven|havet|hamnen)\b",
    # violence and threats happening now ("blir slagen" is left out: residents write it about
    # violence at home, which stod_familj answers with a person at once and 112)
    r"\bkniv\b", r"\bskottlossning\b", r"\bskjuter\b", r"\bbevapnad\b", r"\bvapen\b",
    r"\bblir (ranad|knivhuggen)\b", r"\bhotar att doda\b", r"\bska doda (mig|oss|henne|honom)\b",
    r"\bslar (mig|henne|honom) (just )?nu\b",
    r"\bbryter sig in\b", r"\binbrott (pagar|just nu)\b",
    # suicide
    r"\bta livet av (mig|sig)\b", r"\bta mitt (eget )?liv\b", r"\bsjalvmord", r"\bvill inte leva\b",
    r"\bvill do\b", r"\bvill hoppa\b", r"\bhoppa (fran|ner fran|fran) (bron|taket|balkongen)\b",
    r"\bgora slut pa (allt|mig|mitt liv)\b",
    # the same in English, for residents who write English
    r"\b(it.?s|this is) an emergency\b", r"\bcall (an )?ambulance\b", r"\b(is|are|'s|caught) on fire\b", r"\bburning down\b",
    r"\bsmoke (is )?(everywhere|pouring|filling|coming out)\b", r"\bsmell(s|ing)? (of )?gas\b", r"\bgas leak\b",
    r"\bnot breathing\b", r"\bstopped breathing\b", r"\bthick smoke\b", r"\b(forest|wild) ?fire\b",
    r"\b(car|house|building|flat|apartment|kitchen) is burning\b", r"\bthere.?s a fire\b(?! ban)",
    r"\bfire in (my|the|our|a|his|her) (apartment|flat|house|home|kitchen|building|stairwell|basement|garage|car|room)\b", r"\bdrown", r"\bfell into the (river|lake|sea|water|harbour)\b", r"\bhasn.?t come up\b",
    r"\bswallowed (dishwasher |washing )?(detergent|bleach|pills|tablets|a battery)\b",
    r"\b(walking|running) (alone )?on the (highway|motorway)\b", r"\bclimbing over the (balcony|railing)\b", r"\bnot responding at all\b", r"\b(can't|cannot|can not|cant) breathe\b", r"\bunconscious\b", r"\bunresponsive\b",
    r"\bheart attack\b", r"\bchest pains?\b", r"\bbleeding (a lot|heavily|badly)\b", r"\boverdos",
    r"\bfell (through|into) the ice\b", r"\bthrough the ice\b",
    r"\b(has|with|holding) a (knife|gun)\b", r"\bshots fired\b", r"\bshooting (at|people)\b",
    r"\bbeing (attacked|stabbed|robbed|beaten)\b", r"\bbreaking into\b", r"\bthreat(ens|ening) to kill\b",
    r"\b(hitting|beating) me (right )?now\b", r"\b(will|is going to|gonna) kill (me|us|her|him)\b",
    r"\bjump (off|from) the (bridge|roof|balcony)\b",
    r"\bkill (myself|himself|herself|themselves)\b", r"\bsuicid", r"\bend (my|his|her) life\b",
    r"\btake my (own )?life\b", r"\bwant to die\b", r"\b(don't|do not|dont) want to live\b",
]
_COMPILED = [re.compile(p) for p in PATTERNS]

# Everyday ways of using the same words: a passion ("jag brinner för böcker"), a lamp that burns
# all day, a fear of what might happen ("kan börja brinna", "så att de inte drunknar"), a figure
# of speech ("I almost had a heart attack"). The phrase then says nothing; the classifier decides.
NOT_DANGER = [
    r"\bbrinner for\b", r"\bbrinner (en |ett )?(gatlampa|lampa|lampan|ljus|ljuset|lyset)\b",
    r"\b(gatlampa|lampa|lampan|lampor|lamporna|ljuset|ljusen|brasa|brasan|kaminen|grillen) (som )?brinner\b",
    r"\b(kan|kunna|kan ju|risk att|rad(d|da) att|inte ska|sa att de inte|sa de inte|for att inte) "
    r"(borja )?(brinna|drunkna)\b",
    r"\binte drunknar\b", r"\b(will|might|could|may) drown\b", r"\bdrowning in (paperwork|work|bills|debt|forms)\b",
    r"\bdrunknar i (papper|arbete|jobb|rakningar|skulder)\b", r"\b(almost|nearly) (had|have|got) a heart attack\b", r"\bnastan (fick|fa) en hjartattack\b",
]
_NOT_DANGER = [re.compile(p) for p in NOT_DANGER]
# A fire or an accident told about afterwards ("en brand i soprummet förra veckan") is not happening
# now, unless the resident says it is.
_PAST = re.compile(r"\b(forra (veckan|manaden|aret)|i (gar|forrgar|somras|vintras|host)|igar|for (en|ett|tva|tre) "
                   r"(vecka|veckor|manad|manader|ar) sedan|last (week|month|year)|yesterday)\b")
_NOW = re.compile(r"\b(just nu|nyss|pagar|right now|happening now)\b")


def matching(text: str) -> str | None:
    """The first pattern the text matches, or None."""
    plain = folded(text)
    found = next((p.pattern for p in _COMPILED if p.search(plain)), None)
    if found is None:
        return None
    if any(p.search(plain) for p in _NOT_DANGER):
        return None
    if _PAST.search(plain) and not _NOW.search(plain):
        return None
    return found
