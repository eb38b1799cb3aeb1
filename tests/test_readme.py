"""The README promises to list every setting; this keeps that promise as settings are added."""

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from campaigns.settings import CampaignsSettings
from capacity.settings import CapacitySettings
from gateway.settings import GatewaySettings
from segmentation.settings import SegmentationSettings
from servicekit.pg import LocalPostgresSettings
from servicekit.settings import ServiceSettings

README = (Path(__file__).parents[1] / "README.md").read_text()


def _env_names(settings: type[BaseSettings]) -> dict[str, str]:
    prefix = settings.model_config.get("env_prefix", "")
    names = {}
    for field, info in settings.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
        upper = [c for c in choices if isinstance(c, str) and c.isupper()]
        names[field] = upper[0] if upper else f"{prefix}{field}".upper()
    return names


@pytest.mark.parametrize("settings", [SegmentationSettings, CampaignsSettings, CapacitySettings, GatewaySettings])
def test_every_service_setting_is_in_the_readme(settings: type[ServiceSettings]) -> None:
    shared = set(ServiceSettings.model_fields)
    for field, env_name in _env_names(settings).items():
        prefixed = env_name.startswith(settings.model_config.get("env_prefix", ""))  # not DATABASE_URL, say
        documented = f"`{{SERVICE}}_{field.upper()}`" if field in shared and prefixed else env_name
        assert documented in README, f"{env_name} ({settings.__name__}.{field}) is not in the README"


def test_local_settings_are_in_the_readme() -> None:
    for env_name in _env_names(LocalPostgresSettings).values():
        assert env_name in README
