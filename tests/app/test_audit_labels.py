"""Every component's words stay on its own objects in the « Journal »."""

from __future__ import annotations

from app.composition import audit_reader, components


def test_a_column_two_components_name_differently_reads_in_each_ones_words():
    reader = audit_reader()
    # ``charge_box_id`` is a charger's OCPP identity for csms and the charger a ticket concerns for incidents;
    # ``password_hash`` is a person's password for tenants and a station's for csms.
    assert reader.field_label("chargers", "charge_box_id") == "Identifiant OCPP"
    assert reader.field_label("tickets", "charge_box_id") == "Borne"
    assert reader.field_label("users", "password_hash") == "Mot de passe"
    assert reader.field_label("chargers", "password_hash") == "Mot de passe de la borne"


def test_no_component_word_shows_on_another_components_table():
    reader = audit_reader()
    for component in components():
        labels = component.labels
        if labels is None:
            continue
        for entity in labels.entities:
            for key, word in labels.fields.items():
                if "." not in key and f"{entity}.{key}" not in labels.fields:
                    assert reader.field_label(entity, key) == word, (component.name, entity, key)
