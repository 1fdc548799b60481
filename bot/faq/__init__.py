"""The FAQ at run time: a question to a topic of the knowledge base, or an abstention.

``base`` (the knowledge base and the matcher), ``lexical`` (lexical scores and the lexical
matcher's verdict), ``analyzer`` (text to tokens), ``features`` and ``model`` (the learned
classifier, pure Python), ``decision`` (answer or abstain, calibrated),
``clauses`` (multi-part questions), ``language`` (the base of the question's language),
``followup`` and ``memory`` (short follow-ups), ``tuning`` (every tuned constant), ``data`` and
``lexicon`` (loading the shipped files). The files are built by ``python -m faqbuild``, outside
this package (see ``faqbuild/``).
"""
