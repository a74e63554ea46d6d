package medsearch;

import java.util.Properties;
import org.apache.solr.embedded.JettyConfig;
import org.apache.solr.embedded.JettySolrRunner;

/**
 * One SolrCloud node in its own JVM: Solr in Jetty on 127.0.0.1:PORT/solr, its
 * cores under SOLR_HOME, coordinated by the ZooKeeper at ZK_HOST.
 *
 * <p>Solr's Maven artifacts carry no start script; JettySolrRunner (Solr's own
 * test harness, the one MiniSolrCloudCluster runs) wires Jetty to Solr as the
 * distribution's jetty.xml does. Its main() is fixed to port 8983, hence this.
 *
 * <p>Usage: {@code java -cp CLASSPATH medsearch.SolrNode PORT SOLR_HOME ZK_HOST}
 */
public final class SolrNode {
  private SolrNode() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: medsearch.SolrNode PORT SOLR_HOME ZK_HOST");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    Properties node = new Properties();
    node.setProperty("zkHost", args[2]);
    JettyConfig config =
        JettyConfig.builder().setPort(port).setContext("/solr").stopAtShutdown(true).build();
    JettySolrRunner solr = new JettySolrRunner(args[1], node, config);
    try {
      solr.start();
    } catch (Exception e) {
      // One line for the log the caller reads; the JVM must not linger half-up.
      System.err.println("medsearch.SolrNode: cannot start on port " + port + ": " + e);
      Runtime.getRuntime().halt(1);
    }
    System.out.println("medsearch.SolrNode: listening on http://127.0.0.1:" + port + "/solr");
    // Jetty's threads keep the JVM alive; SIGTERM runs its shutdown hook (stopAtShutdown).
  }
}
