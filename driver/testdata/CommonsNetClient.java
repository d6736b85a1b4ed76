// FTPS client for ftpsd's end-to-end tests, built on Apache Commons Net's
// stock FTPSClient (Debian package libcommons-net-java), as Java
// applications use it: explicit FTPS (AUTH TLS), PBSZ 0, PROT P, passive
// mode, binary type. It stores a local file, lists the directory by name,
// retrieves the file back and prints one JSON object with every reply, the
// exception of each step that threw, and the TLS protocol of the control
// and data connections. The Go test compares the facts.
//
// Stock Commons Net does no TLS session reuse: every data connection is a
// new JSSE socket to the data port, whose session cache entry (host and
// port) is not the control connection's.
//
// Usage:
//   java -cp commons-net.jar:DIR CommonsNetClient --host H --port P \
//       --user U --password W --protocol TLSv1.3|TLSv1.2 \
//       --upload LOCAL --remote NAME --download LOCAL2 [--timeout MS]

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.net.ssl.SSLSocket;

import org.apache.commons.net.ftp.FTP;
import org.apache.commons.net.ftp.FTPSClient;
import org.apache.commons.net.util.TrustManagerUtils;

public class CommonsNetClient {
    /** FTPSClient that remembers its last data socket, changing nothing. */
    static final class RecordingClient extends FTPSClient {
        Socket lastData;

        RecordingClient() {
            super("TLS", false); // explicit FTPS
        }

        @Override
        protected void _prepareDataSocket_(final Socket socket) throws java.io.IOException {
            lastData = socket;
            super._prepareDataSocket_(socket);
        }

        String controlProtocol() {
            if (_socket_ instanceof SSLSocket) {
                return ((SSLSocket) _socket_).getSession().getProtocol();
            }
            return "clear";
        }

        String dataProtocol() {
            if (lastData instanceof SSLSocket) {
                return ((SSLSocket) lastData).getSession().getProtocol();
            }
            return lastData == null ? "" : "clear";
        }
    }

    private final Map<String, Object> out = new LinkedHashMap<>();

    private static String reply(final FTPSClient c) {
        final String s = c.getReplyString();
        return s == null ? "" : s.trim();
    }

    private static String describe(final Throwable e) {
        final StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (b.length() > 0) {
                b.append(" <- caused by: ");
            }
            b.append(t.getClass().getName()).append(": ").append(t.getMessage());
        }
        return b.toString();
    }

    /** The body of one transfer step: it sets "ok" (and "names"). */
    private interface Transfer {
        void run(Map<String, Object> step) throws Exception;
    }

    /**
     * Runs one transfer step and records its reply text, success, exception
     * and the TLS protocol of its data connection.
     */
    private void step(final RecordingClient c, final String name, final Transfer body) {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", false);
        m.put("reply", "");
        m.put("error", "");
        out.put(name, m);
        try {
            body.run(m);
            m.put("reply", reply(c));
        } catch (Exception e) {
            m.put("error", describe(e));
            drainFinalReply(c, m);
        }
        m.put("data_protocol", c.dataProtocol());
        c.lastData = null;
    }

    /**
     * After a transfer failed with an exception the final reply (e.g. 425) may
     * still be unread on the control connection: read it, so that the next
     * command gets its own reply, and record it.
     */
    private static void drainFinalReply(final FTPSClient c, final Map<String, Object> m) {
        try {
            c.setSoTimeout(3000);
            c.completePendingCommand();
            m.put("reply", reply(c));
        } catch (Exception e) {
            m.put("drain_error", describe(e));
        }
    }

    public static void main(final String[] argv) throws Exception {
        final Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
        }
        final CommonsNetClient r = new CommonsNetClient();
        int code = 0;
        try {
            r.run(a);
        } catch (Exception e) {
            r.out.put("fatal", describe(e));
            code = 1;
        }
        System.out.println(Json.encode(r.out));
        System.exit(code);
    }

    private void run(final Map<String, String> a) throws Exception {
        final int timeout = Integer.parseInt(a.getOrDefault("timeout", "15000"));
        final RecordingClient c = new RecordingClient();
        c.setTrustManager(TrustManagerUtils.getAcceptAllTrustManager());
        c.setEnabledProtocols(new String[] {a.get("protocol")});
        c.setConnectTimeout(timeout);
        c.setDefaultTimeout(timeout);
        c.setDataTimeout(java.time.Duration.ofMillis(timeout));
        c.connect(a.get("host"), Integer.parseInt(a.get("port")));
        out.put("connect", reply(c)); // connect() ends with AUTH TLS
        c.setSoTimeout(timeout);
        out.put("login", c.login(a.get("user"), a.get("password")) + " " + reply(c));
        c.execPBSZ(0);
        out.put("pbsz", reply(c));
        c.execPROT("P");
        out.put("prot", reply(c));
        c.enterLocalPassiveMode();
        c.setFileType(FTP.BINARY_FILE_TYPE);
        out.put("control_protocol", c.controlProtocol());

        step(c, "stor", m -> {
            try (InputStream in = new FileInputStream(a.get("upload"))) {
                m.put("ok", c.storeFile(a.get("remote"), in));
            }
        });
        step(c, "list", m -> {
            final String[] names = c.listNames();
            m.put("ok", names != null);
            final List<Object> l = new ArrayList<>();
            if (names != null) {
                for (String n : names) {
                    l.add(n);
                }
            }
            m.put("names", l);
        });
        step(c, "retr", m -> {
            try (OutputStream o = new FileOutputStream(a.get("download"))) {
                m.put("ok", c.retrieveFile(a.get("remote"), o));
            }
        });

        try {
            c.logout();
            out.put("quit", reply(c));
        } catch (Exception e) {
            out.put("quit", "error: " + describe(e));
        }
        c.disconnect();
    }

    /** Minimal JSON encoder for maps, lists, strings and booleans. */
    static final class Json {
        static String encode(final Object o) {
            final StringBuilder b = new StringBuilder();
            write(b, o);
            return b.toString();
        }

        private static void write(final StringBuilder b, final Object o) {
            if (o instanceof Map) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    write(b, String.valueOf(e.getKey()));
                    b.append(':');
                    write(b, e.getValue());
                }
                b.append('}');
            } else if (o instanceof List) {
                b.append('[');
                boolean first = true;
                for (Object e : (List<?>) o) {
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    write(b, e);
                }
                b.append(']');
            } else if (o instanceof Boolean) {
                b.append(o.toString());
            } else {
                b.append('"');
                for (char ch : String.valueOf(o).toCharArray()) {
                    if (ch == '"' || ch == '\\') {
                        b.append('\\').append(ch);
                    } else if (ch < 0x20) {
                        b.append(String.format("\\u%04x", (int) ch));
                    } else {
                        b.append(ch);
                    }
                }
                b.append('"');
            }
        }
    }
}
