using System.Globalization;
using System.Text;
using Warren.Testing.Logging;

namespace Warren.Testing.Servers;

/// <summary>
/// Debian's HAProxy (.ci/run installs it) on 127.0.0.1 in front of several edges, as a production cluster would run
/// behind a load balancer (docs/cluster.md, "Rolling restart"): round robin over the edges' public HTTP ports, each
/// edge's health checked on its admin /readyz every 100 ms (down at the first failure, so a draining edge gets no new
/// request once it answers 503), and a request whose connection to an edge is refused, or that gets no response on it,
/// retried on another edge (<c>retry-on conn-failure empty-response</c>, <c>option redispatch</c>): what an operator
/// configures for a rolling restart. Foreground (<c>-db</c>), its own folder; stopped on dispose.
/// </summary>
internal sealed class HaproxyServer : IAsyncDisposable
{
    private readonly string _folder;
    private readonly ExternalProcess _process;

    private HaproxyServer(string folder, ExternalProcess process, int port) => (_folder, _process, Port) = (folder, process, port);

    /// <summary>The port clients send their requests to.</summary>
    public int Port { get; }

    public static string Executable => File.Exists("/usr/sbin/haproxy")
        ? "/usr/sbin/haproxy"
        : throw new InvalidOperationException("haproxy is not installed (apt-get install haproxy; .ci/run does)");

    /// <summary>Starts HAProxy on <paramref name="port"/> (a reserved one) in front of <paramref name="edges"/>: name → (HTTP port, admin port).</summary>
    public static HaproxyServer Start(TestLog log, int port, IReadOnlyDictionary<string, (int Http, int Admin)> edges)
    {
        var folder = Directory.CreateTempSubdirectory("warren-haproxy-").FullName;
        var config = new StringBuilder()
            .AppendLine("global")
            .AppendLine("  maxconn 4096")
            .AppendLine("defaults")
            .AppendLine("  mode http")
            .AppendLine("  timeout connect 2s")
            .AppendLine("  timeout client 60s")
            .AppendLine("  timeout server 60s")
            .AppendLine("  retries 3")
            .AppendLine("  option redispatch 1")
            .AppendLine("  retry-on conn-failure empty-response")
            .AppendLine("frontend public")
            .AppendLine(CultureInfo.InvariantCulture, $"  bind 127.0.0.1:{port}")
            .AppendLine("  default_backend edges")
            .AppendLine("backend edges")
            .AppendLine("  balance roundrobin")
            .AppendLine("  option httpchk GET /readyz")
            .AppendLine("  default-server inter 100ms fastinter 100ms downinter 100ms fall 1 rise 2");
        foreach (var (name, (http, admin)) in edges)
        {
            config.AppendLine(CultureInfo.InvariantCulture, $"  server {name} 127.0.0.1:{http} check port {admin}");
        }
        var path = Path.Combine(folder, "haproxy.cfg");
        File.WriteAllText(path, config.ToString());
        var process = ExternalProcess.Start(log, "haproxy", Executable, ["-db", "-f", path]);
        return new HaproxyServer(folder, process, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        LoggedTest.DeleteDirectory(_folder);
    }
}
