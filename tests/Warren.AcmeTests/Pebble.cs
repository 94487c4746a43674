using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Warren.AcmeTests;

/// <summary>What one test's CA does differently.</summary>
internal sealed record PebbleOptions
{
    /// <summary>Lifetime of issued certificates (Pebble's certificateValidityPeriod); null: Pebble's default (5 years).</summary>
    public TimeSpan? Validity { get; init; }

    /// <summary>External account binding keys (kid → base64url MAC key); non-empty makes EAB required.</summary>
    public IReadOnlyDictionary<string, string> EabKeys { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// Debian's Pebble (Let's Encrypt's test CA) and pebble-challtestsrv (its DNS server), started for one test on
/// loopback ports: Pebble resolves every name through challtestsrv, which answers 127.0.0.1 for all of them and no
/// AAAA, so Pebble's validations reach the edge under test and nothing else. Pebble's HTTPS is served with a
/// certificate of a CA made here (<see cref="CaBundlePath"/>, for acme.ca_bundle); what Pebble issues chains to
/// <see cref="Root"/>. Its output goes to the test log; <see cref="OrdersCreated"/> counts the orders it logged.
/// </summary>
internal sealed class Pebble : IAsyncDisposable
{
    private readonly TestLog _log;
    private readonly string _folder;
    private readonly StringBuilder _output = new();
    private Process? _pebble;
    private Process? _dns;
    private readonly HttpClient _http;

    private Pebble(TestLog log, string folder, Func<int> reservePort, int httpPort, int tlsPort, PebbleOptions options)
    {
        _log = log;
        _folder = folder;
        HttpPort = httpPort;
        TlsPort = tlsPort;
        Options = options;
        // Reserved ports (bound, not listening): Go sets SO_REUSEADDR on its listeners as .NET does, so Pebble and
        // challtestsrv bind them while nothing else can be handed them (Warren.Testing.PortReservation).
        AcmePort = reservePort();
        ManagementPort = reservePort();
        DnsPort = reservePort();
        DnsManagementPort = reservePort();
        CaBundlePath = Path.Combine(folder, "pebble-https-ca.pem");
        var (caPem, certPem, keyPem) = CreateServerCertificate();
        File.WriteAllText(CaBundlePath, caPem);
        File.WriteAllText(Path.Combine(folder, "cert.pem"), certPem);
        File.WriteAllText(Path.Combine(folder, "key.pem"), keyPem);
        var trust = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        trust.CustomTrustStore.ImportFromPemFile(CaBundlePath);
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = trust } })
        {
            Timeout = TimeSpan.FromSeconds(20),
        };
    }

    public PebbleOptions Options { get; }

    /// <summary>Where Pebble validates http-01 and tls-alpn-01: the edge's listeners must be on these ports.</summary>
    public int HttpPort { get; }

    public int TlsPort { get; }

    public int AcmePort { get; }

    public int ManagementPort { get; }

    public int DnsPort { get; }

    public int DnsManagementPort { get; }

    public string DirectoryUrl => $"https://127.0.0.1:{AcmePort}/dir";

    public string CaBundlePath { get; }

    /// <summary>Pebble's root (made anew at each start): what a client trusts to validate issued certificates.</summary>
    public X509Certificate2 Root { get; private set; } = null!;

    public bool IsRunning => _pebble is { HasExited: false };

    /// <summary>Orders Pebble created ("Added order" lines in its log).</summary>
    public int OrdersCreated => CountOutput("Added order");

    /// <summary>Accounts Pebble created.</summary>
    public int AccountsCreated => CountOutput("accounts in memory");

    public static async Task<Pebble> StartAsync(TestLog log, Func<int> reservePort, int httpPort, int tlsPort, PebbleOptions? options = null)
    {
        foreach (var binary in new[] { "pebble", "pebble-challtestsrv" })
        {
            if (FindOnPath(binary) is null)
            {
                throw new InvalidOperationException($"{binary} is not installed: `apt-get install pebble` (.ci/run installs it first)");
            }
        }
        var folder = Path.Combine(Path.GetTempPath(), "warren-pebble-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var pebble = new Pebble(log, folder, reservePort, httpPort, tlsPort, options ?? new PebbleOptions());
        try
        {
            pebble.StartDns();
            await pebble.StartCaAsync();
        }
        catch
        {
            await pebble.DisposeAsync();
            throw;
        }
        return pebble;
    }

    private void StartDns()
    {
        _dns = Start("challtestsrv", "pebble-challtestsrv",
            ["-management", $"127.0.0.1:{DnsManagementPort}", "-dns01", $"127.0.0.1:{DnsPort}", "-http01", "", "-https01", "", "-tlsalpn01", "",
             "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""], new Dictionary<string, string>());
    }

    /// <summary>Starts (or starts again, on the same ports) the CA; a restarted Pebble knows no account or order.</summary>
    public async Task StartCaAsync()
    {
        var config = new Dictionary<string, object?>
        {
            ["listenAddress"] = $"127.0.0.1:{AcmePort}",
            ["managementListenAddress"] = $"127.0.0.1:{ManagementPort}",
            ["certificate"] = Path.Combine(_folder, "cert.pem"),
            ["privateKey"] = Path.Combine(_folder, "key.pem"),
            ["httpPort"] = HttpPort,
            ["tlsPort"] = TlsPort,
            ["ocspResponderURL"] = "",
            ["externalAccountBindingRequired"] = Options.EabKeys.Count > 0,
            ["externalAccountMACKeys"] = Options.EabKeys,
        };
        if (Options.Validity is { } validity)
        {
            config["certificateValidityPeriod"] = (long)validity.TotalSeconds;
        }
        var path = Path.Combine(_folder, "pebble.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new { pebble = config }));
        _pebble = Start("pebble", "pebble", ["-config", path, "-dnsserver", $"127.0.0.1:{DnsPort}", "-strict=false"],
            // No artificial validation sleeps; 5% of nonces are still refused, so badNonce retries are exercised.
            new Dictionary<string, string> { ["PEBBLE_VA_NOSLEEP"] = "1" });
        await Wait.UntilAsync(async () =>
        {
            try
            {
                using var response = await _http.GetAsync(new Uri(DirectoryUrl));
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return !IsRunning ? throw new InvalidOperationException("pebble exited at start; see its output in the log") : false;
            }
        }, "Pebble serves its directory", TimeSpan.FromSeconds(30));
        var rootPem = await _http.GetStringAsync(new Uri($"https://127.0.0.1:{ManagementPort}/roots/0"));
        Root = X509Certificate2.CreateFromPem(rootPem);
        _log.Note($"pebble up: directory {DirectoryUrl}, validates http-01 on :{HttpPort} and tls-alpn-01 on :{TlsPort}, DNS on :{DnsPort}; root {Root.Subject}");
    }

    /// <summary>Stops the CA (the DNS server stays): the edge then finds it down.</summary>
    public async Task StopCaAsync()
    {
        if (_pebble is { } process)
        {
            _pebble = null;
            await StopAsync(process);
            _log.Note("pebble stopped");
        }
    }

    /// <summary>The TXT records challtestsrv serves, managed over its HTTP API (what a DNS hook script calls).</summary>
    public string DnsManagementUrl => $"http://127.0.0.1:{DnsManagementPort}";

    private Process Start(string label, string binary, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(binary)
        {
            WorkingDirectory = _folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        var process = new Process { StartInfo = start };
        void Line(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data is { } line)
            {
                lock (_output)
                {
                    _output.Append(label).Append(": ").Append(line).Append('\n');
                }
                _log.Note($"{label}: {line}");
            }
        }
        process.OutputDataReceived += Line;
        process.ErrorDataReceived += Line;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private int CountOutput(string text)
    {
        lock (_output)
        {
            var all = _output.ToString();
            var count = 0;
            for (var i = all.IndexOf(text, StringComparison.Ordinal); i >= 0; i = all.IndexOf(text, i + text.Length, StringComparison.Ordinal))
            {
                count++;
            }
            return count;
        }
    }

    private static async Task StopAsync(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
    }

    private static string? FindOnPath(string binary) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Select(dir => Path.Combine(dir, binary)).FirstOrDefault(File.Exists);

    /// <summary>A CA and a certificate for 127.0.0.1/localhost signed by it, for Pebble's own HTTPS.</summary>
    private static (string CaPem, string CertPem, string KeyPem) CreateServerCertificate()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Warren test CA for Pebble's HTTPS", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.Create(ca, now.AddDays(-1), now.AddDays(6), RandomNumberGenerator.GetBytes(8));
        return (ca.ExportCertificatePem(), certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    public async ValueTask DisposeAsync()
    {
        if (_pebble is { } pebble)
        {
            await StopAsync(pebble);
        }
        if (_dns is { } dns)
        {
            await StopAsync(dns);
        }
        _http.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
