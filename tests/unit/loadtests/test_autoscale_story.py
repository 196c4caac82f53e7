from ray.serve.schema import (ApplicationStatus, ApplicationStatusOverview, DeploymentStatus, DeploymentStatusOverview,
                              DeploymentStatusTrigger, ReplicaState, ServeStatus)

from loadtests.autoscale import LoadSample, ReplicaSample, read_locust, tell_story, timeline
from loadtests.serving import replica_counts

HEADER = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
          "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
          "Total Min Response Time,Total Max Response Time,Total Average Content Size\n")


def test_replica_counts_read_serve_status():
    deployment = DeploymentStatusOverview(status=DeploymentStatus.UPSCALING, status_trigger=DeploymentStatusTrigger.AUTOSCALING,
                                          replica_states={ReplicaState.RUNNING: 1, ReplicaState.STARTING: 1}, message="")
    status = ServeStatus(applications={"wiyh": ApplicationStatusOverview(
        status=ApplicationStatus.RUNNING, message="", last_deployed_time_s=0.0, deployments={"backbone": deployment})})
    assert replica_counts(status) == ({"backbone": 1}, {"backbone": 2})
    assert replica_counts(ServeStatus()) == ({}, {})


def test_locust_history_and_totals_are_read(tmp_path):
    (tmp_path / "locust_stats_history.csv").write_text(HEADER
                       + "100,0,,Aggregated,0.000,0.000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0\n"
                       + "101,4,GET,/v1/heads,1.0,0.0,5,5,5,5,5,5,5,5,5,5,5,1,0,5,5.0,5,5,10\n"
                       + "101,4,,Aggregated,3.5,0.5,120,130,140,150,160,170,180,190,200,200,200,7,1,120,125.0,100,200,900\n")
    (tmp_path / "locust_stats.csv").write_text("Type,Name,Request Count,Failure Count\nPOST,/v1/predict,40,2\n,Aggregated,41,2\n")
    rows, requests, failures = read_locust(tmp_path / "locust")
    assert [r.users for r in rows] == [0, 4]
    assert rows[1].p50_ms == 120 and rows[1].p95_ms == 170 and rows[1].failures_per_s == 0.5
    assert rows[0].p50_ms != rows[0].p50_ms  # N/A -> NaN
    assert (requests, failures) == (41, 2)


def _load(points):
    return [LoadSample(t=t, users=u, rps=1.0, failures_per_s=0.0, p50_ms=100.0, p95_ms=150.0) for t, u in points]


def test_the_story_finds_scale_up_and_the_return_to_the_minimum():
    load = _load([(0, 1), (10, 16), (20, 16), (30, 16), (40, 1), (50, 1), (60, 1)])
    replicas = [ReplicaSample(t=t, running={"backbone": c}, total={"backbone": c})
                for t, c in [(0, 1), (10, 1), (14, 2), (20, 3), (30, 3), (40, 3), (52, 2), (58, 1), (60, 1)]]
    story = tell_story(replicas, load, "backbone", requests=500, failures=0)
    assert (story.min_running, story.max_running) == (1, 3)
    assert story.first_scale_up_s == 14
    assert story.back_to_min_s == 28  # the last 16-user sample is at t=30; one replica again at 58
    assert "| 10 | 16 | 1 |" in timeline(replicas, load, "backbone")


def test_no_scale_up_is_reported_as_such():
    load = _load([(0, 1), (10, 2)])
    replicas = [ReplicaSample(t=t, running={"backbone": 1}, total={"backbone": 1}) for t in (0, 5, 10)]
    story = tell_story(replicas, load, "backbone", requests=10, failures=0)
    assert story.max_running == 1 and story.first_scale_up_s is None and story.back_to_min_s is None
