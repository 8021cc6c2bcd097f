//! Two timely processes on 127.0.0.1 share the partitions and publish the
//! snapshots one process publishes.

use std::io::Write;

use streamflix_connectors::kafka::produce::produce_directory;

use crate::support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_processes_publish_the_snapshots_of_one() {
    let _turn = crate::support::one_at_a_time();
    let input = generated(250, 21, 17);

    let single_kafka = kafka_settings(&bootstrap(), "single");
    let total: u64 = produce_directory(&single_kafka, input.path(), |_| {})
        .unwrap()
        .values()
        .sum();
    let single_work = tempfile::tempdir().unwrap();
    let single_config = write_config(single_work.path(), &single_kafka);
    let mut single = Service::start(&single_config, &["-w", "2"], "single.log");
    single.wait_settled(total);
    single.terminate();

    let pair_kafka = kafka_settings(&bootstrap(), "pair");
    produce_directory(&pair_kafka, input.path(), |_| {}).unwrap();
    let pair_work = tempfile::tempdir().unwrap();
    let pair_config = write_config(pair_work.path(), &pair_kafka);
    let hostfile = pair_work.path().join("hosts.txt");
    let mut hosts = std::fs::File::create(&hostfile).unwrap();
    writeln!(hosts, "127.0.0.1:{}", free_port()).unwrap();
    writeln!(hosts, "127.0.0.1:{}", free_port()).unwrap();
    let hostfile = hostfile.to_str().unwrap().to_string();
    let mut zero = Service::start(
        &pair_config,
        &["-w", "1", "-n", "2", "-p", "0", "--hostfile", &hostfile],
        "process0.log",
    );
    let one = Service::start(
        &pair_config,
        &["-w", "1", "-n", "2", "-p", "1", "--hostfile", &hostfile],
        "process1.log",
    );
    zero.wait_settled(total);
    // A cluster stops as a whole: each process drains until every worker
    // of every process has stopped reading.
    zero.send_terminate();
    one.send_terminate();
    one.wait_clean_exit();
    zero.wait_clean_exit();

    let single_snapshots = latest_snapshots(&single_work.path().join("snapshots"));
    let pair_snapshots = latest_snapshots(&pair_work.path().join("snapshots"));
    assert!(!single_snapshots.is_empty());
    // Which periods a sparse feed lets through depends on when its
    // partitions went idle, so only the dense feed's periods (engagement)
    // must be the same set; every snapshot both published must be equal.
    let engagement = |snapshots: &std::collections::BTreeMap<String, _>| -> Vec<String> {
        snapshots
            .keys()
            .filter(|key: &&String| key.starts_with("engagement_"))
            .cloned()
            .collect()
    };
    assert_eq!(engagement(&single_snapshots), engagement(&pair_snapshots));
    let mut common = 0;
    for (key, single) in &single_snapshots {
        let Some(pair) = pair_snapshots.get(key) else {
            continue;
        };
        common += 1;
        assert_eq!(pair.rows, single.rows, "{key}");
        assert_eq!(pair.revision, single.revision, "{key}");
    }
    assert!(
        common * 10 >= single_snapshots.len() * 9,
        "too few snapshots in common"
    );
    // And both are what replay computes.
    let tables = replayed(input.path()).tables;
    assert_snapshots_match_replay(
        &pair_snapshots,
        &tables,
        &due_engagement_weeks(input.path(), &tables),
    );
}
