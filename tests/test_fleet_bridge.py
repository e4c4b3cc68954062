"""``edge-app bridge-config``: the printed bridge, run by a real store mosquitto, carries a
device's events to a second, central mosquitto over TLS, also across a central outage."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge_app.cli import main
from edge_app.config import parse_config
from edge_app.core.errors import ConfigError
from edge_app.fleet.bridge import render_bridge
from tests.mqtt_broker import Collector, make_password_file, make_tls_files, running_broker


def device_yaml(folder: Path, bridge: dict[str, object] | None) -> Path:
    data: dict[str, object] = {
        "device_id": "store-7",
        "cameras": [{"id": "cam1", "source": {"type": "synthetic"}, "zones": "z.yaml"}],
    }
    if bridge is not None:
        data["bridge"] = bridge
    path = folder / "edge-app.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def publish(port: int, topic: str, payload: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="device-stand-in")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_bridge_forwards_the_device_to_the_central_broker_over_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = make_tls_files(tmp_path / "tls")
    passwd = make_password_file(tmp_path / "auth", "store-7", "s3cret")
    with running_broker(tmp_path / "central", password_file=passwd, tls=tls) as central:
        config = device_yaml(
            tmp_path,
            {
                "host": "127.0.0.1",
                "port": central.port,
                "tls": {"ca_file": str(tls.ca)},
                "username": "store-7",
                "password": {"file": str(tmp_path / "pw")},
                "restart_min_s": 1,
                "restart_max_s": 2,
            },
        )
        (tmp_path / "pw").write_text("s3cret\n")
        assert main(["bridge-config", "--config", str(config)]) == 0
        text = capsys.readouterr().out
        for line in ("cleansession false", "topic edge-app/store-7/# out 1",
                     f"bridge_cafile {tls.ca}", "bridge_insecure false",
                     "remote_username store-7", "remote_password s3cret"):  # fmt: skip
            assert line in text.splitlines(), line
        watcher = Collector(central, ("edge-app/#",), client_id="central-watcher")
        watcher.client.tls_set(ca_certs=str(tls.ca))
        watcher.client.username_pw_set("store-7", "s3cret")
        watcher.start()
        try:
            with running_broker(tmp_path / "store", extra=tuple(text.splitlines())) as store:
                publish(store.port, "edge-app/store-7/events", '{"seq": 1}')
                assert watcher.wait_for(lambda m: bool(watcher.on("edge-app/store-7/events")), 15)
                central.stop()  # the link goes down: the store broker keeps the events
                publish(store.port, "edge-app/store-7/events", '{"seq": 2}')
                central.start()

                def distinct() -> list[bytes]:  # at least once: a resend may repeat one
                    seen = [m.payload for m in watcher.on("edge-app/store-7/events")]
                    return list(dict.fromkeys(seen))

                assert watcher.wait_for(lambda m: len(distinct()) >= 2, 20), store.log_text()
                assert distinct() == [b'{"seq": 1}', b'{"seq": 2}']
        finally:
            watcher.close()


def test_no_bridge_section_is_a_clear_error(tmp_path: Path) -> None:
    path = device_yaml(tmp_path, None)
    config = parse_config(yaml.safe_load(path.read_text()), path)
    with pytest.raises(ConfigError, match="bridge: has no bridge section"):
        render_bridge(config, str(path))


def test_out_writes_a_private_file(tmp_path: Path) -> None:
    config = device_yaml(tmp_path, {"host": "central.example.com"})
    out = tmp_path / "bridge.conf"
    assert main(["bridge-config", "--config", str(config), "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert "address central.example.com:8883" in out.read_text()
