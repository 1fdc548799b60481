"""The FAQ matcher's tuned constants (bot/faq.py), in one place: what a calibration changes."""

from __future__ import annotations

import re

# Calibrated on our own question sets (bench/faq.py --calibrate), never on the blind sets.
DEFAULT_THRESHOLD = 0.40
OFF_TOPIC_MARGIN = 0.05  # an off-topic class this close to the best topic makes the bot abstain
SEE_ALSO_RATIO = 0.85  # a runner-up scoring this share of the best is offered as "see also"
CLAUSE_THRESHOLD = 0.6  # each clause of a multi-intent question must be this clear
COVERAGE_SHARE = 0.7
KEYWORD_COUNT = 2  # a keyword counts as this many phrasings using the word
FULL_ASSOCIATION = 2  # phrasings (or keyword) needed for a word to fully belong to a topic
SHARE_EXPONENT = 0.5  # association also scales with (count in topic / count in its main topic)
UNKNOWN_WEIGHT = 3.0  # weight of a word unknown to the knowledge base *and* to the language
COMMON_WEIGHT = 0.3  # weight of an unknown but very common word (Zipf ≥ COMMON_ZIPF)
RARE_ZIPF, COMMON_ZIPF = 2.5, 6.0  # Zipf frequencies between which the weight falls linearly
WEAK_FACTOR = 0.5  # weak words (interrogatives, "pix"…) count half
FULL_EXPLANATION = 0.7  # a question of weak words only is answered above this score
OFF_TOPIC_PREFIX = "~"
EXAMPLES_CLASS = OFF_TOPIC_PREFIX + "exemples"  # the corpus's off-topic questions (faq_examples)
# A word the best topic does not explain, at least this informative, means the question may be
# about something else ("le code de la *porte*"): the topic then needs an anchor (see _anchored).
FOREIGN_WEIGHT = 0.6
SIGNATURE_SCORE = 0.8  # a topic explaining this much of the question needs no anchor
MIN_SUPPORT = 2  # non-weak words of the topic that make an anchor needless
GENERIC_ZIPF = 5.3  # a known word this common in the language is no sign of another subject
SUPPORT_ASSOCIATION = 0.3  # a word this associated with a topic supports it (see _anchored)
# A known word is a sign of another subject when an off-topic class uses it more than the topic
# and more than this share of the topic that uses it most (see _anchored).
DOMAIN_SHARE = 0.5
CLAUSE_MARGIN = 0.05  # the best clause of a long question must clear the threshold by this much

# Clauses of a multi-intent question: sentences, or "… et …" between two long enough parts.
SENTENCES = re.compile(r"[?!;\n]+|\.\s")
CONJUNCTIONS = re.compile(r",?\s+(?:et|and|also|aussi|puis|ensuite|autre question)\s+")
# Parts of a long question, to find the one that asks ("Bonjour, je suis agent d'accueil, …").
PARTS = re.compile(r"[?!;,:\n]+|\.\s|\s+(?:car|parce que|mais|et|because|but|since|and)\s+")
MIN_CLAUSE_WORDS = 2

# Follow-ups (bot/faq_followup.py): a message of at most this many words, soon after an answer,
# may be read with that answer's topic (bot/faq_memory.py keeps it a few minutes).
FOLLOW_UP_WORDS = 14
# … and only when the classifier gives the message alone less than this off-topic probability.
FOLLOW_UP_OFF_TOPIC = 0.9

# The learned classifier (bot/faq_model.py), combined with the lexical scores (bot/faq_learned.py).
LEARNED_SHARE = 0.6  # a topic's confidence: this share of its probability, the rest lexical
LEARNED_CLAUSE_THRESHOLD = 0.4  # each clause of a multi-intent question must be this confident
LEARNED_SEE_ALSO_RATIO = 0.6  # a runner-up this close to the best (in confidence) is offered
LEARNED_SEE_ALSO_FLOOR = 0.2  # … and at least this confident
# Answer or abstain (bot/faq_learned.decision_features): a logistic model of the probability that
# the candidate topic is right, fitted on held-out predictions by ``bench/faq.py --calibrate``,
# which prints these lines (paste them here, then run the bench).
DECISION_WEIGHTS = (2.6565, -2.0449, 0.1944, 3.3547, -2.2826, 0.9939, -3.6744, 0.1245)
DECISION_BIAS = -0.5763
ANSWER_PROBABILITY = 0.40  # answer when the candidate is at least this likely to be right
