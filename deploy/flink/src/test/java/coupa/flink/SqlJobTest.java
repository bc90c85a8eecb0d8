package coupa.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class SqlJobTest {
  @Test
  void fillsPlaceholdersFromTheEnvironment() {
    assertEquals("'topic' = 'coupa.invoices', 'x' = 'a$b'",
        SqlJob.fill("'topic' = '${COUPA_TOPIC_PREFIX}invoices', 'x' = '${X}'",
            Map.of("COUPA_TOPIC_PREFIX", "coupa.", "X", "a$b")));
  }

  @Test
  void namesEveryMissingVariable() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SqlJob.fill("${KAFKA_BROKERS} ${JDBC_URL}", Map.of()));
    assertTrue(e.getMessage().contains("KAFKA_BROKERS, JDBC_URL"), e.getMessage());
  }

  @Test
  void splitsAtLineEndSemicolonsAndDropsComments() {
    List<String> got = SqlJob.statements("-- ${NOT_FILLED} a comment;\nSET 'a' = 'b';\nCREATE TABLE t (\n  x STRING -- 'a;b'\n);\nINSERT INTO t SELECT 'a;b'\n");
    assertEquals(List.of("SET 'a' = 'b'", "CREATE TABLE t (\n  x STRING -- 'a;b'\n)", "INSERT INTO t SELECT 'a;b'"), got);
  }

  @Test
  void theShippedScriptHasItsStatementsAndOnlyKnownVariables() throws IOException {
    List<String> stmts = SqlJob.statements(Files.readString(Path.of("coupa.sql")));
    long inserts = stmts.stream().filter(s -> s.startsWith("INSERT")).count();
    assertEquals(4, inserts, "INSERT statements in coupa.sql");
    Map<String, String> env = Map.of("KAFKA_BROKERS", "k:9092", "SCHEMA_REGISTRY_URL", "http://r",
        "COUPA_TOPIC_PREFIX", "coupa.", "JDBC_URL", "jdbc:postgresql://db/coupa");
    for (String s : stmts) {
      SqlJob.fill(s, env); // throws on a variable the README does not name
    }
  }
}
