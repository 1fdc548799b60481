"""Pix's organisation API (MaDDo): the pure reading of its payloads (:mod:`bot.pix.schema`) and
the HTTP client (:mod:`bot.pix.client`). Nothing here knows the database."""
