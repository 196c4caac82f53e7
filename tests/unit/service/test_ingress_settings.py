"""`router.ingress: direct` (Serve's direct ingress) is deployed only where it can work: on a cluster
started with the flag, and with one router replica per node unless HAProxy spreads the clients.
Each refusal names the key, the environment variable and the fix."""
from __future__ import annotations

import pytest

from service.deploy.cluster_env import direct_ingress_enabled
from service.deploy.settings import ServiceConfigError, load_settings

DIRECT = {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1"}
ONE_ROUTER = {"num_replicas": 1}


def test_proxy_ingress_needs_nothing_from_the_cluster():
    assert load_settings({}, environ={}).router.ingress == "proxy"
    assert load_settings({"router": {"autoscaling": {"max_replicas": 4}}}, environ={}).router.ingress == "proxy"


def test_direct_ingress_on_a_cluster_without_it_is_refused_with_the_variable_to_set():
    with pytest.raises(ServiceConfigError) as err:
        load_settings({"router": {"ingress": "direct", **ONE_ROUTER}}, environ={})
    message = str(err.value)
    assert "router.ingress: direct" in message and "RAY_SERVE_ENABLE_DIRECT_INGRESS=1" in message and "ray start" in message
    assert "router.ingress: proxy" in message  # the other way out


@pytest.mark.parametrize("router", [ONE_ROUTER, {}, {"max_replicas_per_node": 1, "autoscaling": {"max_replicas": 4}}])
def test_direct_ingress_with_one_router_replica_per_node_is_accepted(router):
    settings = load_settings({"router": {"ingress": "direct", **router}}, environ=DIRECT)
    assert settings.router.ingress == "direct"


@pytest.mark.parametrize("router", [{"num_replicas": 2}, {"autoscaling": {"max_replicas": 2}}])
def test_several_router_replicas_on_a_node_without_haproxy_are_refused(router):
    with pytest.raises(ServiceConfigError) as err:
        load_settings({"router": {"ingress": "direct", **router}}, environ=DIRECT)
    assert "router.max_replicas_per_node: 1" in str(err.value) and "RAY_SERVE_ENABLE_HA_PROXY=1" in str(err.value)
    # with HAProxy in front (which turns direct ingress on by itself) they are fine
    haproxy = {"RAY_SERVE_ENABLE_HA_PROXY": "1"}
    assert load_settings({"router": {"ingress": "direct", **router}}, environ=haproxy).router.ingress == "direct"


def test_a_misspelt_ingress_lists_the_valid_values():
    with pytest.raises(ServiceConfigError, match=r"router.ingress: Input should be 'proxy' or 'direct'"):
        load_settings({"router": {"ingress": "haproxy"}}, environ={})


@pytest.mark.parametrize("env, enabled", [
    ({}, False), (DIRECT, True), ({"RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}, False),
    # as Serve decides it: throughput-optimized turns it on unless the flag says otherwise; HAProxy forces it
    ({"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}, True),
    ({"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}, False),
    ({"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}, True),
])
def test_direct_ingress_is_read_from_the_environment_as_serve_reads_it(env, enabled):
    assert direct_ingress_enabled(env) is enabled


@pytest.mark.parametrize("name", ["RAY_SERVE_ENABLE_DIRECT_INGRESS", "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"])
def test_a_serve_flag_spelt_other_than_0_or_1_is_refused_since_serve_would_read_it_as_off(name):
    # Serve reads only "1" as on: `true` would silently run with the flag off
    with pytest.raises(ServiceConfigError) as err:
        load_settings({}, environ={name: "true"})
    assert f"{name}='true'" in str(err.value) and "1 or 0" in str(err.value) and "ray start" in str(err.value)
    assert load_settings({}, environ={name: "0"}).router.ingress == "proxy"


def test_a_control_loop_interval_that_is_not_seconds_is_refused_with_the_value_to_use():
    with pytest.raises(ServiceConfigError, match=r"RAY_SERVE_CONTROL_LOOP_INTERVAL_S='1s'.*seconds >= 0.*1\.0"):
        load_settings({}, environ={"RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "1s"})
    assert load_settings({}, environ={"RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "2.5"}).router.ingress == "proxy"
