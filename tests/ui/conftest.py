from tests.ui.app_fixtures import running_app, tiny_checkpoint  # noqa: F401  (fixtures)
