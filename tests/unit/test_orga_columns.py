"""The Pix Orga export's columns, named as Pix names them (headers from 1024pix/pix's export
tests): the external id under the campaign's own label, "Date et heure de début", "Partage
(O/N)" or "Envoi (O/N)" with Oui / Non, and Pix's escaping of cells."""

from __future__ import annotations

import pytest

from bot.orga import OrgaError, read_export

ASSESSMENT = (
    '\ufeff"Nom de l\'organisation";"ID Campagne";"Code";"Nom de la campagne";"Parcours";'
    '"Nom du Participant";"Prénom du Participant";{label}"% de progression";'
    '"Date et heure de début (Europe/Paris)";"Partage (O/N)";'
    '"Date et heure du partage (Europe/Paris)";"% maitrise de l\'ensemble des acquis du profil"\n'
)
PROFILES = (
    '"Nom de l\'organisation";"ID Campagne";"Code";"Nom de la campagne";'
    '"Nom du Participant";"Prénom du Participant";"Mail Perso";"Envoi (O/N)";'
    '"Date et heure de l\'envoi (Europe/Paris)";"Nombre de pix total";"Certifiable (O/N)"\n'
)


def line(*cells: str) -> str:
    return ";".join(f'"{c}"' for c in cells) + "\n"


def test_the_label_column_is_the_external_id_even_without_a_hint() -> None:
    export = (
        ASSESSMENT.format(label='"Matricule";')
        + line(
            "DREAL",
            "555",
            "ABCDEF234",
            "Cyber",
            "Cyber",
            "Martin",
            "Camille",
            "A-1234",
            "100 %",
            "24/11/2026 10:00",
            "Oui",
            "25/11/2026 11:00",
            "87 %",
        )
        + line(
            "DREAL",
            "555",
            "ABCDEF234",
            "Cyber",
            "Cyber",
            "Durand",
            "Léa",
            "A-5678",
            "40 %",
            "24/11/2026 10:00",
            "Non",
            "",
            "",
        )
    )
    rows = list(read_export(export))
    # Not "ID Campagne" (555), though its name holds "id".
    assert [(r.external_id, r.started, r.shared) for r in rows] == [
        ("A-1234", True, True),
        ("A-5678", True, False),
    ]


def test_a_profiles_collection_export_is_read_by_its_envoi_column() -> None:
    export = (
        PROFILES
        + line(
            "DREAL",
            "556",
            "QWERTY456",
            "Profils",
            "Bono",
            "Jean",
            "'+jean@dreal.gouv.fr",
            "Oui",
            "01/03/2026 10:00",
            "52",
            "Non",
        )
        + line(
            "DREAL",
            "556",
            "QWERTY456",
            "Profils",
            "Dupont",
            "Luc",
            "'@luc:example.gouv.fr",
            "Non",
            "NA",
            "NA",
            "NA",
        )
    )
    rows = list(read_export(export))
    # Pix's formula escaping (a leading ') is undone before matching.
    assert [(r.external_id, r.shared) for r in rows] == [
        ("+jean@dreal.gouv.fr", True),
        ("@luc:example.gouv.fr", False),
    ]


def test_sup_columns_stand_between_the_names_and_the_label() -> None:
    header = ASSESSMENT.format(label='"Groupe";"Numéro Étudiant";"Adresse e-mail pro";')
    export = header + line(
        "U",
        "1",
        "C",
        "N",
        "P",
        "Nom",
        "Prénom",
        "G1",
        "12345",
        "a@b.fr",
        "10 %",
        "24/11/2026 10:00",
        "Non",
        "",
        "",
    )
    [row] = read_export(export)
    assert row.external_id == "a@b.fr"


def test_a_campaign_without_external_id_is_refused_with_a_way_out() -> None:
    with pytest.raises(OrgaError, match="--id-column"):
        read_export(ASSESSMENT.format(label="") + line(*"abcdefg", "1 %", "", "Non", "", ""))


def test_the_id_column_option_still_wins() -> None:
    export = ASSESSMENT.format(label='"Matricule";') + line(
        "D", "5", "C", "N", "P", "Martin", "Camille", "A-1", "1 %", "24/11/2026", "Oui", "", ""
    )
    [row] = read_export(export, id_column="Nom du Participant")
    assert row.external_id == "Martin" and row.shared
