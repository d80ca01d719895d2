# Thin shortcuts; ci/run is the source of truth.
.PHONY: check test run sim fmt cluster cluster-stop cluster-clean

check:
	bash ci/run

test:
	cargo test --workspace

run:
	cargo run --release --bin ember-server

sim:
	cargo run -p ember-sim -- run scenarios/single_node.scn --seed 1

fmt:
	cargo fmt --all

# A local three-node cluster on 6379-6381 (buses on 16379-16381), data under ./data/cluster.
cluster:
	cargo build --release --bin ember-server
	bash ci/cluster.sh start target/release/ember-server data/cluster 6379 6380 6381

cluster-stop:
	bash ci/cluster.sh stop data/cluster

cluster-clean: cluster-stop
	rm -rf data/cluster
