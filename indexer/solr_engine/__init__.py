"""SolrCloud, the engine past one machine: today the local cluster to run it on.

`cluster` starts, lists and stops a local SolrCloud (ZooKeeper and Solr
nodes, each its own JVM, from Solr's Maven artifacts); `java` finds Java and
builds their classpath with Maven. The engine itself (indexer.engine's
interface over SolrCloud) is the next step of issue #13: see docs/solr.md.
"""
