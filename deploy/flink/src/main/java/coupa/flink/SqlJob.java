package coupa.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.StatementSet;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;

/**
 * Runs a Flink SQL script as one streaming job.
 *
 * <p>The script is plain Flink SQL, as the SQL client reads it, with
 * {@code ${NAME}} placeholders filled from the environment (so that brokers,
 * registry and database are not written into it). Statements end with a
 * semicolon at the end of a line. {@code SET 'key' = 'value'} sets a
 * configuration option; every {@code CREATE} and the like runs at once; every {@code INSERT} joins one statement set, so that
 * all sinks are one job reading each topic once.
 *
 * <p>Run inside a cluster ({@code flink run coupa-flink-sql.jar coupa.sql})
 * the job is submitted to it; run with Flink on the classpath ({@code java
 * -cp ...}) it runs in an embedded mini-cluster until the process is stopped.
 */
public final class SqlJob {
  private static final Pattern PLACEHOLDER = Pattern.compile("\\$\\{([A-Z_][A-Z0-9_]*)\\}");
  private static final Pattern SET = Pattern.compile("(?is)SET\\s+'([^']+)'\\s*=\\s*'([^']*)'");

  private SqlJob() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: SqlJob <script.sql>");
      System.exit(2);
    }
    String script = Files.readString(Path.of(args[0]), StandardCharsets.UTF_8);
    List<String> stmts = new ArrayList<>();
    for (String stmt : statements(script)) {
      stmts.add(fill(stmt, System.getenv())); // comments, already dropped, may name ${...} freely
    }
    TableEnvironment env = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    StatementSet inserts = env.createStatementSet();
    int n = 0;
    for (String stmt : stmts) {
      Matcher set = SET.matcher(stmt);
      if (set.matches()) { // the SQL client's SET, which executeSql does not take
        env.getConfig().getConfiguration().setString(set.group(1), set.group(2));
      } else if (stmt.regionMatches(true, 0, "INSERT", 0, 6)) {
        inserts.addInsertSql(stmt);
        n++;
      } else {
        env.executeSql(stmt);
      }
    }
    if (n == 0) {
      throw new IllegalArgumentException(args[0] + " has no INSERT statement: nothing to run");
    }
    TableResult job = inserts.execute();
    String id = job.getJobClient().map(c -> c.getJobID().toString()).orElse("?");
    System.out.println("coupa-flink-sql: job " + id + " running " + n + " INSERT statements");
    job.await(); // a streaming job: until it fails or is cancelled
  }

  /** fill replaces each ${NAME} with the environment variable NAME, which must be set. */
  static String fill(String script, Map<String, String> vars) {
    Matcher m = PLACEHOLDER.matcher(script);
    StringBuilder out = new StringBuilder();
    List<String> missing = new ArrayList<>();
    while (m.find()) {
      String v = vars.get(m.group(1));
      if (v == null) {
        missing.add(m.group(1));
        v = "";
      }
      m.appendReplacement(out, Matcher.quoteReplacement(v));
    }
    m.appendTail(out);
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException("the script needs these environment variables: " + String.join(", ", missing));
    }
    return out.toString();
  }

  /** statements splits a script at semicolons that end a line, dropping comment lines. */
  static List<String> statements(String script) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    for (String line : script.split("\n", -1)) {
      String t = line.strip();
      if (t.startsWith("--")) {
        continue;
      }
      cur.append(line).append('\n');
      if (t.endsWith(";")) {
        String stmt = cur.toString().strip();
        out.add(stmt.substring(0, stmt.length() - 1));
        cur.setLength(0);
      }
    }
    if (!cur.toString().isBlank()) {
      out.add(cur.toString().strip());
    }
    return out;
  }
}
