# Thin shortcuts; ci/run is the source of truth.
.PHONY: check test run sim fmt

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
