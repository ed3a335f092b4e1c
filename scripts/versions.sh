# shellcheck shell=bash disable=SC2034 # the variables are used by scripts/brokers.sh
# Versions of the test brokers, pinned in this one place (sourced by
# scripts/brokers.sh). Changing one makes the next `make brokers-up` resolve
# the new jars into .cache/brokers/<broker>-<version>/.

# Newest Apache Kafka 4.x whose artifacts are all on Maven Central
# (4.4.0's kafka-tools-api was missing when this was pinned).
KAFKA_VERSION=4.3.1
# Must equal the log4j-core version kafka-server $KAFKA_VERSION depends on:
# it only pins the slf4j binding that Kafka's pom leaves out.
KAFKA_LOG4J_VERSION=2.25.4

# Apache Pulsar 4.0 is the current LTS line; newest 4.0.x fully on Maven Central
# (4.0.8's jetcd-core-shaded was missing when this was pinned).
PULSAR_VERSION=4.0.7

MAVEN_DEPENDENCY_PLUGIN_VERSION=3.8.1
