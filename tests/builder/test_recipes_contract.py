"""Every recipe exposes the same module contract, so the CLI can drive any of them alike."""

import inspect

import pytest

from mer_builder.labels import EMOTIONS
from mer_builder.manifest import CORPORA
from mer_builder.recipes import get_recipe


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_every_recipe_has_the_same_entry_points(name):
    recipe = get_recipe(name)
    assert name == recipe.NAME and CORPORA[name] == recipe.CORPUS and recipe.FOLDER
    download = inspect.signature(recipe.download)
    assert list(download.parameters) == ["raw_dir", "force"] and download.parameters["force"].default is False
    assert list(inspect.signature(recipe.locate).parameters) == ["raw_dir"]
    assert list(inspect.signature(recipe.parse).parameters) == ["corpus_dir", "ctx"]


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_every_recipe_documents_its_corpus_labels_language_and_licence(name):
    recipe = get_recipe(name)
    assert recipe.__doc__ and len(recipe.__doc__.splitlines()) > 10
    assert recipe.LICENCE and (getattr(recipe, "LANGUAGE", None) or getattr(recipe, "SPEAKERS", None))
    assert recipe.LABELS and set(recipe.LABELS.values()) - {None} <= set(EMOTIONS)
