#!/usr/bin/env bash
# Install the HDFS + YARN minicluster of the test sandbox (dev/hadoop) into .cache/hadoop/:
# its runtime jars (Maven Central, through a private local repository .cache/hadoop/m2) in lib/
# and the compiled launcher in classes/. Only what is missing: a stamp (sha1 of pom.xml and
# MiniHadoop.java) skips everything when both are unchanged, so a second run does nothing.
# With --check it only says (exit 1) whether that is needed. Needs mvn and javac (scripts/bootstrap.sh installs Debian's maven and default-jdk-headless).
set -euo pipefail
cd "$(dirname "$0")/.."

src=dev/hadoop
cache=.cache/hadoop
stamp="$cache/.installed-$(cat "$src/pom.xml" "$src/MiniHadoop.java" | sha1sum | cut -c1-12)"
if [ -f "$stamp" ] && [ -f "$cache/classes/MiniHadoop.class" ] && [ -d "$cache/lib" ]; then
  exit 0
fi
# --check: only say whether it is current (the test fixture: tests download nothing).
if [ "${1:-}" = "--check" ]; then
  echo "hadoop_jars: the minicluster in $cache is missing or out of date: run scripts/hadoop_jars.sh (make install does)" >&2
  exit 1
fi
for tool in mvn javac; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "hadoop_jars: $tool not found: install maven and default-jdk-headless (scripts/bootstrap.sh)" >&2; exit 2; }
done

echo "hadoop_jars: installing the minicluster's jars and launcher into $cache"
mkdir -p "$cache"
# lib/ is rebuilt whole, so that a jar dropped from pom.xml does not stay on the classpath.
rm -rf "$cache/lib.new" "$cache/classes.new"
# Maven's output (and the colour resets it prints even with -q) is shown only when it fails.
# -C: a jar whose checksum does not match Maven Central's is an error, not a warning.
if ! mvn -B -q -C -Dstyle.color=never -f "$src/pom.xml" -Dmaven.repo.local="$PWD/$cache/m2" \
    dependency:copy-dependencies -DoutputDirectory="$PWD/$cache/lib.new" -DincludeScope=runtime \
    >"$cache/mvn.log" 2>&1; then
  cat "$cache/mvn.log" >&2; echo "hadoop_jars: mvn failed (Maven Central reachable?)" >&2; exit 1
fi
mkdir -p "$cache/classes.new"
# javac's only warning is about sun.misc.Signal (an internal API, used on purpose for SIGTERM):
# its output is shown only when it fails.
# --release 17: the class runs on the Java 17 that Spark and YARN's containers use, whatever javac.
if ! javac --release 17 -d "$cache/classes.new" -cp "$cache/lib.new/*" "$src/MiniHadoop.java" >"$cache/javac.log" 2>&1; then
  cat "$cache/javac.log" >&2; echo "hadoop_jars: javac failed" >&2; exit 1
fi
rm -rf "$cache/lib" "$cache/classes"
mv "$cache/lib.new" "$cache/lib"
mv "$cache/classes.new" "$cache/classes"
rm -f "$cache"/.installed-*
touch "$stamp"
echo "hadoop_jars: $(ls "$cache/lib" | wc -l) jars, $(du -sh "$cache/lib" | cut -f1) in $cache/lib"
