import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * Single-JVM HDFS + YARN minicluster for tests.
 *
 * Usage: java -cp 'lib/*:classes' MiniHadoop --base DIR --conf-dir DIR
 *            [--nn-port 0] [--nm-mem-mb 8192] [--nm-vcores 4] [--no-yarn]
 *            [--no-stdin] [--kdc] [--secure] [--keep-container-dirs]
 *            [--yarn-stop-timeout-sec 3]
 *
 * Prints "READY" (alone on a line) to stdout when HDFS, YARN (and the KDC)
 * are up and the *-site.xml files are written. Everything else goes to
 * stderr. Stops on stdin EOF (unless --no-stdin) or SIGTERM/SIGINT.
 */
public class MiniHadoop {
  private static final PrintStream OUT = System.out;

  private static MiniDFSCluster dfs;
  private static MiniYARNCluster yarn;
  private static long yarnStopTimeoutMs = 3000;
  private static Object kdc; // org.apache.hadoop.minikdc.MiniKdc, loaded reflectively
  private static final CountDownLatch stopped = new CountDownLatch(1);
  private static final CountDownLatch stopRequested = new CountDownLatch(1);

  public static void main(String[] args) {
    try {
      run(args);
    } catch (Throwable t) {
      System.err.println("MiniHadoop: FAILED to start");
      t.printStackTrace();
      OUT.println("FAILED");
      OUT.flush();
      System.exit(1); // runs the shutdown hook, which stops whatever did start
    }
  }

  private static void run(String[] args) throws Exception {
    Map<String, String> opt = parse(args);
    File base = new File(req(opt, "base")).getAbsoluteFile();
    File confDir = new File(req(opt, "conf-dir")).getAbsoluteFile();
    int nnPort = Integer.parseInt(opt.getOrDefault("nn-port", "0"));
    int nmMem = Integer.parseInt(opt.getOrDefault("nm-mem-mb", "8192"));
    int nmVcores = Integer.parseInt(opt.getOrDefault("nm-vcores", "4"));
    boolean withYarn = !opt.containsKey("no-yarn");
    boolean secure = opt.containsKey("secure");
    boolean withKdc = secure || opt.containsKey("kdc");
    boolean watchStdin = !opt.containsKey("no-stdin");
    yarnStopTimeoutMs = 1000L * Integer.parseInt(opt.getOrDefault("yarn-stop-timeout-sec", "3"));

    // Everything the minicluster writes goes to stdout in places: keep our
    // stdout clean for the READY protocol.
    System.setOut(System.err);

    base.mkdirs();
    confDir.mkdirs();
    long t0 = System.nanoTime();

    // Fallback only (e.g. System.exit from elsewhere); the normal path is stopRequested.
    Runtime.getRuntime().addShutdownHook(new Thread(MiniHadoop::shutdown, "minihadoop-shutdown"));
    for (String sig : new String[] {"TERM", "INT", "HUP"}) {
      sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> {
        System.err.println("MiniHadoop: SIG" + s.getName() + ", stopping");
        stopRequested.countDown();
      });
    }
    if (watchStdin) {
      Thread t = new Thread(() -> {
        try {
          InputStream in = System.in;
          byte[] buf = new byte[256];
          while (in.read(buf) >= 0) { /* ignore input */ }
        } catch (IOException ignored) {
        }
        System.err.println("MiniHadoop: stdin closed, stopping");
        stopRequested.countDown();
      }, "minihadoop-stdin");
      t.setDaemon(true);
      t.start();
    }

    String user = System.getProperty("user.name");

    // ---------- Kerberos (optional, step 4) ----------
    File keytab = null;
    String realm = null;
    if (withKdc) {
      File kdcDir = new File(base, "kdc");
      kdcDir.mkdirs();
      Class<?> c = Class.forName("org.apache.hadoop.minikdc.MiniKdc");
      java.util.Properties kconf = (java.util.Properties) c.getMethod("createConf").invoke(null);
      kconf.setProperty("kdc.bind.address", "localhost");
      kdc = c.getConstructor(java.util.Properties.class, File.class).newInstance(kconf, kdcDir);
      c.getMethod("start").invoke(kdc);
      realm = (String) c.getMethod("getRealm").invoke(kdc);
      // Not in the conf dir: spark-submit ships every file of HADOOP_CONF_DIR to every container.
      keytab = new File(kdcDir, "test.keytab");
      String[] princs = {user, user + "/localhost", "HTTP/localhost"};
      c.getMethod("createPrincipal", File.class, String[].class).invoke(kdc, keytab, princs);
      File krb5 = (File) c.getMethod("getKrb5conf").invoke(kdc);
      Files.copy(krb5.toPath(), new File(confDir, "krb5.conf").toPath(),
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      System.err.printf("MiniHadoop: KDC up realm=%s port=%s keytab=%s (%.1fs)%n", realm,
          c.getMethod("getPort").invoke(kdc), keytab, (System.nanoTime() - t0) / 1e9);
    }

    // ---------- HDFS ----------
    Configuration conf = new HdfsConfiguration();
    conf.set("hadoop.tmp.dir", new File(base, "hadoop-tmp").getPath());
    conf.setBoolean("dfs.permissions.enabled", true);
    conf.setInt("dfs.replication", 1);
    conf.set("hadoop.proxyuser." + user + ".hosts", "*");
    conf.set("hadoop.proxyuser." + user + ".groups", "*");
    // Cheaper on a 2-core box.
    conf.setInt("dfs.namenode.handler.count", 4);
    conf.setInt("dfs.datanode.handler.count", 4);
    conf.setBoolean("dfs.namenode.acls.enabled", true);
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(base, "dfs").getPath());
    String svcPrincipal = null, httpPrincipal = null;
    if (secure) {
      // Kerberos for RPC; DataNode on non-privileged ports without SASL/HTTPS
      // (test-only switch "ignore.secure.ports.for.testing").
      svcPrincipal = user + "/localhost@" + realm;
      httpPrincipal = "HTTP/localhost@" + realm;
      String kt = keytab.getPath();
      conf.set("hadoop.security.authentication", "kerberos");
      conf.set("dfs.namenode.kerberos.principal", svcPrincipal);
      conf.set("dfs.namenode.keytab.file", kt);
      conf.set("dfs.datanode.kerberos.principal", svcPrincipal);
      conf.set("dfs.datanode.keytab.file", kt);
      conf.set("dfs.web.authentication.kerberos.principal", httpPrincipal);
      conf.set("dfs.web.authentication.kerberos.keytab", kt);
      conf.setBoolean("dfs.block.access.token.enable", true);
      conf.setBoolean("ignore.secure.ports.for.testing", true);
      conf.set("yarn.resourcemanager.principal", svcPrincipal);
      conf.set("yarn.resourcemanager.keytab", kt);
      conf.set("yarn.nodemanager.principal", svcPrincipal);
      conf.set("yarn.nodemanager.keytab", kt);
      conf.set("yarn.resourcemanager.webapp.spnego-principal", httpPrincipal);
      conf.set("yarn.resourcemanager.webapp.spnego-keytab-file", kt);
      conf.set("yarn.nodemanager.webapp.spnego-principal", httpPrincipal);
      conf.set("yarn.nodemanager.webapp.spnego-keytab-file", kt);
      org.apache.hadoop.security.UserGroupInformation.setConfiguration(conf);
      org.apache.hadoop.security.UserGroupInformation.loginUserFromKeytab(svcPrincipal, kt);
      System.err.println("MiniHadoop: logged in as " + org.apache.hadoop.security.UserGroupInformation.getLoginUser());
    }

    dfs = new MiniDFSCluster.Builder(conf, new File(base, "dfs"))
        .numDataNodes(1)
        .nameNodePort(nnPort)
        .nameNodeHttpPort(0)
        .format(true)
        .build();
    dfs.waitActive();
    FileSystem fs = dfs.getFileSystem();
    Path tmp = new Path("/tmp");
    fs.mkdirs(tmp);
    fs.setPermission(tmp, new FsPermission((short) 01777));
    Path home = new Path("/user/" + user);
    fs.mkdirs(home);
    fs.setOwner(home, user, null);
    // The client files name 127.0.0.1, where everything listens: "localhost" may resolve to ::1
    // first. Kerberos (--secure) keeps localhost, the host part of its service principals.
    String host = secure ? "localhost" : "127.0.0.1";
    String defaultFs = "hdfs://" + host + ":" + dfs.getNameNodePort();
    System.err.printf("MiniHadoop: HDFS up at %s (%.1fs)%n", defaultFs, (System.nanoTime() - t0) / 1e9);

    // ---------- YARN ----------
    Configuration yconf = null;
    if (withYarn) {
      YarnConfiguration yc = new YarnConfiguration(dfs.getConfiguration(0));
      yc.setInt(YarnConfiguration.NM_PMEM_MB, nmMem);
      // MiniYARNCluster overwrites NM_PMEM_MB with this key (default 4096) for each NM.
      yc.setInt(YarnConfiguration.YARN_MINICLUSTER_NM_PMEM_MB, nmMem);
      yc.setInt(YarnConfiguration.NM_VCORES, nmVcores);
      yc.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 256);
      yc.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, nmMem);
      yc.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_VCORES, nmVcores);
      yc.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
      yc.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
      yc.setFloat("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", 99.5f);
      // No capacity-scheduler.xml on the classpath -> CapacityScheduler fails
      // ("Queue configuration missing child queue names for root"). FIFO is enough.
      yc.set(YarnConfiguration.RM_SCHEDULER,
          "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler");
      yc.setBoolean(YarnConfiguration.TIMELINE_SERVICE_ENABLED, false);
      yc.setBoolean(YarnConfiguration.LOG_AGGREGATION_ENABLED, false);
      // Shutdown speed: the NM waits sigkill-delay + process-kill-wait + 1s for apps
      // to leave its context (they never do while their logs are retained), and
      // the DeletionService waits up to 10s for pending (delayed) deletions.
      yc.setLong("yarn.nodemanager.process-kill-wait.ms", 1000);
      yc.setLong("yarn.nodemanager.sleep-delay-before-sigkill.ms", 250);
      if (opt.containsKey("keep-container-dirs")) {
        // keep container work dirs for debugging (costs ~10s at shutdown)
        yc.setInt(YarnConfiguration.DEBUG_NM_DELETE_DELAY_SEC, 600);
      }
      yc.setInt(YarnConfiguration.RM_AM_MAX_ATTEMPTS, 1);
      yarn = new MiniYARNCluster("minihadoop", 1, 1, 1);
      yarn.init(yc);
      yarn.start();
      if (!yarn.waitForNodeManagersToConnect(30000)) {
        throw new IllegalStateException("NodeManager did not register");
      }
      yconf = yarn.getConfig();
      System.err.printf("MiniHadoop: YARN up, RM at %s (%.1fs)%n",
          yconf.get(YarnConfiguration.RM_ADDRESS), (System.nanoTime() - t0) / 1e9);
    }

    // ---------- client config files ----------
    Configuration core = new Configuration(false);
    core.set("fs.defaultFS", defaultFs);
    core.set("hadoop.security.authentication", secure ? "kerberos" : "simple");
    core.set("hadoop.proxyuser." + user + ".hosts", "*");
    core.set("hadoop.proxyuser." + user + ".groups", "*");
    if (keytab != null) {
      core.set("minihadoop.kdc.realm", realm);
      core.set("minihadoop.kdc.keytab", keytab.getPath());
    }
    write(core, new File(confDir, "core-site.xml"));

    Configuration hdfs = new Configuration(false);
    hdfs.set("dfs.replication", "1");
    hdfs.set("dfs.permissions.enabled", "true");
    hdfs.set("dfs.namenode.http-address",
        host + ":" + dfs.getNameNode().getHttpAddress().getPort());
    if (secure) {
      hdfs.set("dfs.namenode.kerberos.principal", svcPrincipal);
      hdfs.set("dfs.datanode.kerberos.principal", svcPrincipal);
      hdfs.set("dfs.block.access.token.enable", "true");
    }
    write(hdfs, new File(confDir, "hdfs-site.xml"));

    if (yconf != null) {
      Configuration ys = new Configuration(false);
      for (String k : new String[] {
          YarnConfiguration.RM_ADDRESS, YarnConfiguration.RM_SCHEDULER_ADDRESS,
          YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, YarnConfiguration.RM_ADMIN_ADDRESS,
          YarnConfiguration.RM_WEBAPP_ADDRESS}) {
        String v = yconf.get(k);
        if (v != null) ys.set(k, v.replaceFirst("^(localhost|0\\.0\\.0\\.0):", host + ":"));
      }
      ys.set(YarnConfiguration.RM_HOSTNAME, host); // the RM's own value is 0.0.0.0
      ys.set(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, "256");
      ys.set(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, String.valueOf(nmMem));
      if (secure) {
        ys.set("yarn.resourcemanager.principal", svcPrincipal);
        ys.set("yarn.nodemanager.principal", svcPrincipal);
      }
      write(ys, new File(confDir, "yarn-site.xml"));
      Configuration mr = new Configuration(false);
      mr.set("mapreduce.framework.name", "yarn");
      write(mr, new File(confDir, "mapred-site.xml"));
    }

    System.err.printf("MiniHadoop: config written to %s (%.1fs)%n", confDir,
        (System.nanoTime() - t0) / 1e9);
    OUT.println("READY");
    OUT.flush();
    stopRequested.await();
    shutdown();
    System.exit(0);
  }

  private static synchronized void shutdown() {
    if (stopped.getCount() == 0) return;
    long t0 = System.nanoTime();
    if (yarn != null) {
      // NM stop kills containers first (well under a second), then idles: ~2s waiting
      // for apps to leave its context and 10s in NonAggregatingLogHandler's
      // awaitTermination (pending log-deletion tasks). Don't wait for that idling:
      // everything lives in throw-away dirs.
      final MiniYARNCluster y = yarn;
      Thread st = new Thread(() -> {
        try { y.stop(); } catch (Throwable t) { t.printStackTrace(); }
      }, "minihadoop-yarn-stop");
      st.setDaemon(true);
      st.start();
      try { st.join(yarnStopTimeoutMs); } catch (InterruptedException ignored) { }
      System.err.printf("MiniHadoop: YARN %s (%.1fs)%n", st.isAlive() ? "stop still running, not waiting" : "stopped",
          (System.nanoTime() - t0) / 1e9);
      yarn = null;
    }
    try {
      if (dfs != null) { dfs.shutdown(true); dfs = null; }
    } catch (Throwable t) { t.printStackTrace(); }
    try {
      if (kdc != null) { kdc.getClass().getMethod("stop").invoke(kdc); kdc = null; }
    } catch (Throwable t) { t.printStackTrace(); }
    System.err.printf("MiniHadoop: stopped (%.1fs)%n", (System.nanoTime() - t0) / 1e9);
    stopped.countDown();
  }

  private static void write(Configuration c, File f) throws IOException {
    File t = new File(f.getPath() + ".tmp");
    try (OutputStream o = new FileOutputStream(t)) {
      c.writeXml(o);
    }
    if (!t.renameTo(f)) throw new IOException("rename " + t + " -> " + f);
  }

  private static Map<String, String> parse(String[] a) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < a.length; i++) {
      if (!a[i].startsWith("--")) throw new IllegalArgumentException("bad arg " + a[i]);
      String k = a[i].substring(2);
      if (i + 1 < a.length && !a[i + 1].startsWith("--")) m.put(k, a[++i]);
      else m.put(k, "true");
    }
    return m;
  }

  private static String req(Map<String, String> m, String k) {
    String v = m.get(k);
    if (v == null) throw new IllegalArgumentException("--" + k + " is required");
    return v;
  }
}
