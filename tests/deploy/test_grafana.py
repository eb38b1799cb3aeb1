"""deploy/grafana: the dashboard is provisioned with the data source it reads. (Its queries are run against a real
Prometheus in test_scrape.py.)"""

import json

import yaml

from tests.deploy.tools import DEPLOY


def test_the_dashboard_reads_the_provisioned_data_source() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "retention.json").read_text())
    panels = [p for p in dashboard["panels"] if p.get("targets")]
    assert {p["datasource"]["uid"] for p in panels} == {source["uid"]}
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "retention.yml").read_text())["providers"]
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())["services"]["grafana"]
    assert f"../grafana/dashboards:{provider['options']['path']}:ro" in compose["volumes"]
