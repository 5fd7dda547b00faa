import os

import pytest

from tests.ui.app_fixtures import running_app, tiny_checkpoint  # noqa: F401  (fixtures)

GRADIO_ENV = ("GRADIO_TEMP_DIR", "GRADIO_EXAMPLES_CACHE")


@pytest.fixture(autouse=True)
def _gradio_env_restored():
    """app.main() points GRADIO_TEMP_DIR (and the examples cache) at a private folder of its process. In a
    test that would move the session app's upload folder from under it: its own uploads were then refused
    ("not uploaded by a user") in every test after one that ran app.main(). Restored after each test."""
    saved = {k: os.environ.get(k) for k in GRADIO_ENV}
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
