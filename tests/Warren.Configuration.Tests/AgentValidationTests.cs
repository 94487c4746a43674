namespace Warren.Configuration.Tests;

/// <summary>Every agent rule: the error names the file, the line and the field.</summary>
public sealed class AgentValidationTests : IDisposable
{
    private const string Header = "edge: edge.example.com:7443\ntoken: agent-token\n";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private IReadOnlyList<ConfigError> Errors(string body, out string path)
    {
        path = _files.Write("agent.yaml", body);
        return TestFiles.AgentErrors(path);
    }

    [Theory]
    [InlineData("edge: edge.example.com\n", "'edge.example.com' is not a valid address")]
    [InlineData("edge: edge.example.com:70000\n", "is not a valid address")]
    [InlineData("edge: edge.example.com:0\n", "has port 0")]
    [InlineData("edge: \"[fe80::1:7443\"\n", "is not a valid address")]
    public void Edge_MustBeHostPort(string line, string message)
    {
        var errors = Errors("token: t\n" + line, out var path);

        TestFiles.AssertError(errors, path, 2, "edge", message);
    }

    [Fact]
    public void Edge_Missing_IsRequired()
    {
        var errors = Errors("token: t\n", out var path);

        var error = Assert.Single(errors);
        Assert.Equal($"{path}: edge: required: the edge's agent address as host:port, e.g. edge.example.com:7443", error.ToString());
    }

    [Fact]
    public void Token_Empty_IsRequired()
    {
        var errors = Errors("edge: a:1\ntoken: \"\"\n", out var path);

        TestFiles.AssertError(errors, path, 2, "token", "required");
    }

    [Fact]
    public void Token_WithSurroundingSpace_IsRejectedWithoutShowingIt()
    {
        var errors = Errors("edge: a:1\ntoken: \" secret-value \"\n", out var path);

        var error = TestFiles.AssertError(errors, path, 2, "token", "whitespace");
        Assert.DoesNotContain("secret-value", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("zz:zz")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")]
    public void EdgeFingerprint_MustBe64Hex(string value)
    {
        var errors = Errors(Header + $"edge_fingerprint: \"{value}\"\n", out var path);

        TestFiles.AssertError(errors, path, 3, "edge_fingerprint", "64 hex digits");
    }

    [Fact]
    public void EdgeFingerprint_WithInsecure_IsContradictory()
    {
        var errors = Errors(Header + $"edge_fingerprint: {new string('a', 64)}\ninsecure: true\n", out var path);

        TestFiles.AssertError(errors, path, 4, "insecure", "cannot be combined with edge_fingerprint");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(17)]
    public void Connections_Between1And16(int connections)
    {
        var errors = Errors(Header + $"connections: {connections}\n", out var path);

        TestFiles.AssertError(errors, path, 3, "connections", "must be 1 to 16");
    }

    [Fact]
    public void Admin_MustBeHostPort()
    {
        var errors = Errors(Header + "admin: 9091\n", out var path);

        TestFiles.AssertError(errors, path, 3, "admin", "'9091' is not a valid address");
    }

    [Theory]
    [InlineData("Web")]
    [InlineData("-web")]
    [InlineData("web app")]
    [InlineData("\"\"")]
    public void ServiceName_FollowsTheRule(string name)
    {
        var errors = Errors(Header + $"services:\n  - name: {name}\n    hostnames: [a.example.com]\n    target: http://localhost:1\n", out var path);

        TestFiles.AssertError(errors, path, 4, "services[0].name", "is not a valid service name");
    }

    [Fact]
    public void ServiceName_MustBeUnique()
    {
        var errors = Errors(Header + """
            services:
              - name: web
                hostnames: [a.example.com]
                target: http://localhost:1
              - name: web
                hostnames: [b.example.com]
                target: http://localhost:2
            """, out var path);

        TestFiles.AssertError(errors, path, 7, "services[1].name", "'web' is already the name of services[0]");
    }

    [Fact]
    public void Target_Invalid_SaysWhatIsValid()
    {
        var errors = Errors(Header + """
            services:
              - name: a
                hostnames: [a.example.com]
                target: http://localhost:1
              - name: b
                hostnames: [b.example.com]
                target: http://localhost:2
              - name: c
                hostnames: [c.example.com]
                target: htp://x
            """, out var path);

        var error = TestFiles.AssertError(errors, path, 12, "services[2].target", "'htp://x' is not a valid target");
        Assert.Equal($"{path}:12: services[2].target: 'htp://x' is not a valid target; use http://host:port, https://host:port or tcp://host:port", error.ToString());
    }

    [Theory]
    [InlineData("localhost:8080")]
    [InlineData("tcp://localhost")]
    [InlineData("http://localhost:8080/app")]
    [InlineData("ftp://localhost:21")]
    [InlineData("not a uri")]
    public void Target_Rejects(string target)
    {
        var errors = Errors(Header + $"services:\n  - name: s\n    port: 1000\n    target: \"{target}\"\n", out var path);

        TestFiles.AssertError(errors, path, 6, "services[0].target", "is not a valid target");
    }

    [Fact]
    public void Target_Missing_IsRequired()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    hostnames: [a.example.com]\n", out var path);

        TestFiles.AssertError(errors, path, 4, "services[0].target", "required");
    }

    [Fact]
    public void HttpService_WithPort_SaysPortIsWrong()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    hostnames: [a.example.com]\n    port: 8080\n    target: http://localhost:1\n", out var path);

        TestFiles.AssertError(errors, path, 6, "services[0].port", "only TCP services");
    }

    [Fact]
    public void HttpService_WithoutHostnames_SaysHostnamesAreNeeded()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    target: https://localhost:1\n", out var path);

        TestFiles.AssertError(errors, path, 4, "services[0].hostnames", "required for an HTTP service");
    }

    [Fact]
    public void TcpService_WithHostnames_SaysHostnamesAreWrong()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    port: 2222\n    hostnames: [a.example.com]\n    target: tcp://localhost:22\n", out var path);

        TestFiles.AssertError(errors, path, 6, "services[0].hostnames", "a TCP service (tcp:// target) is reached by port");
    }

    [Fact]
    public void TcpService_WithoutPort_SaysPortIsNeeded()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    target: tcp://localhost:22\n", out var path);

        TestFiles.AssertError(errors, path, 4, "services[0].port", "required for a TCP service");
    }

    [Fact]
    public void TcpService_WithPathPrefix_IsAnError()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    port: 2222\n    path_prefix: /x\n    target: tcp://localhost:22\n", out var path);

        TestFiles.AssertError(errors, path, 6, "services[0].path_prefix", "has no paths");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65536)]
    public void Port_InRange(int port)
    {
        var errors = Errors(Header + $"services:\n  - name: s\n    port: {port}\n    target: tcp://localhost:22\n", out var path);

        TestFiles.AssertError(errors, path, 5, "services[0].port", "must be 1 to 65535");
    }

    [Fact]
    public void Port_DuplicateAcrossServices_IsAnError()
    {
        var errors = Errors(Header + """
            services:
              - name: a
                port: 2222
                target: tcp://localhost:22
              - name: b
                port: 2222
                target: tcp://localhost:23
            """, out var path);

        TestFiles.AssertError(errors, path, 8, "services[1].port", "port 2222 is already published by services[0] ('a')");
    }

    [Fact]
    public void Hostname_DuplicateWithSamePrefix_IsAnError_DifferentPrefixIsFine()
    {
        var errors = Errors(Header + """
            services:
              - name: a
                hostnames: [app.example.com]
                target: http://localhost:1
              - name: b
                hostnames: [app.example.com]
                path_prefix: /api
                target: http://localhost:2
              - name: c
                hostnames: [other.example.com, app.example.com]
                path_prefix: /api
                target: http://localhost:3
            """, out var path);

        var error = TestFiles.AssertError(errors, path, 12, "services[2].hostnames[1]", "'app.example.com' with path_prefix /api is already served by services[1] ('b')");
        Assert.Equal([error], errors);
    }

    [Theory]
    [InlineData("App.Example.com", "must be lowercase: 'app.example.com'")]
    [InlineData("app_1.example.com", "is not a valid hostname")]
    [InlineData("a.*.example.com", "is not a valid hostname")]
    [InlineData("-a.example.com", "is not a valid hostname")]
    [InlineData("a..example.com", "is not a valid hostname")]
    [InlineData("b\u00fccher.example.com", "'b\\u00fccher.example.com' is not ASCII; write an internationalised name as its IDNA A-label form ('xn--bcher-kva.example.com')")]
    [InlineData("ban\u212A.example.com", "is not ASCII")]
    [InlineData("xn--app-test.example.com", "has 'xn--app-test', which is not a valid IDNA A-label")]
    public void Hostname_MustBeLowercaseDnsOrWildcard(string hostname, string message)
    {
        var errors = Errors(Header + $"services:\n  - name: s\n    hostnames:\n      - \"{hostname}\"\n    target: http://localhost:1\n", out var path);

        TestFiles.AssertError(errors, path, 6, "services[0].hostnames[0]", message);
    }

    [Fact]
    public void Hostname_InIdnaForm_IsAccepted()
    {
        var config = ConfigLoader.ValidateAgent(new AgentConfig
        {
            Edge = "a:1",
            Token = "t",
            Services = [new ServiceConfig { Name = "web", Hostnames = ["xn--bcher-kva.example.com", "*.xn--bcher-kva.example"], Target = new Uri("http://localhost:1") }],
        });

        Assert.Equal(["xn--bcher-kva.example.com", "*.xn--bcher-kva.example"], config.Services[0].Hostnames);
    }

    [Fact]
    public void Hostnames_AtMostAHundredPerService()
    {
        var hosts = string.Join(", ", Enumerable.Range(0, 101).Select(i => $"h{i}.example.com"));
        var errors = Errors(Header + $"services:\n  - name: s\n    hostnames: [{hosts}]\n    target: http://localhost:1\n", out var path);

        TestFiles.AssertError(errors, path, 5, "services[0].hostnames", "has 101 hostnames; a service may have at most 100");
    }

    [Theory]
    [InlineData("0s", "must be 0.001s to 86400s (it is 0s)")]
    [InlineData("25h", "must be 0.001s to 86400s (it is 90000s)")]
    public void ResponseTimeout_InRange(string value, string message)
    {
        var errors = Errors(Header + $"services:\n  - name: s\n    hostnames: [a.example.com]\n    target: http://localhost:1\n    response_timeout: {value}\n", out var path);

        TestFiles.AssertError(errors, path, 7, "services[0].response_timeout", message);
    }

    [Fact]
    public void Name_WithTrailingNewline_IsRejected()
    {
        var errors = Errors(Header + "services:\n  - name: \"web\\n\"\n    hostnames: [a.example.com]\n    target: http://localhost:1\n", out var path);

        TestFiles.AssertError(errors, path, 4, "services[0].name", "'web\\u000a' is not a valid service name");
    }

    [Fact]
    public void PathPrefix_MustStartWithSlash()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    hostnames: [a.example.com]\n    path_prefix: api\n    target: http://localhost:1\n", out var path);

        TestFiles.AssertError(errors, path, 6, "services[0].path_prefix", "must start with '/'");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100_001)]
    public void MaxConcurrency_InRange(int value)
    {
        var errors = Errors(Header + $"services:\n  - name: s\n    hostnames: [a.example.com]\n    target: http://localhost:1\n    max_concurrency: {value}\n", out var path);

        TestFiles.AssertError(errors, path, 7, "services[0].max_concurrency", "must be 1 to 100000");
    }

    [Fact]
    public void Timeouts_MustBePositive()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    hostnames: [a.example.com]\n    target: http://localhost:1\n    dial_timeout: 0s\n", out var path);

        TestFiles.AssertError(errors, path, 7, "services[0].dial_timeout", "must be longer than 0");
    }

    [Fact]
    public void InsecureSkipVerify_OnlyForHttps()
    {
        var errors = Errors(Header + "services:\n  - name: s\n    hostnames: [a.example.com]\n    target: http://localhost:1\n    insecure_skip_verify: true\n", out var path);

        TestFiles.AssertError(errors, path, 7, "services[0].insecure_skip_verify", "only to https://");
    }

    [Fact]
    public void ProxyProtocol_IsReadForATcpService()
    {
        var path = _files.Write("agent.yaml", Header + "services:\n  - name: db\n    port: 5432\n    target: tcp://localhost:5432\n    proxy_protocol: v2\n");

        Assert.Equal("v2", ConfigLoader.LoadAgent(path, TestFiles.NoEnvironment).Services[0].ProxyProtocol);
    }

    [Theory]
    [InlineData("port: 5432\n    target: tcp://localhost:1\n    proxy_protocol: v3", "is not a PROXY protocol version; use v1 (text) or v2 (binary)")]
    [InlineData("hostnames: [a.example.com]\n    target: http://localhost:1\n    proxy_protocol: v1", "applies only to TCP services")]
    public void ProxyProtocol_OnlyV1OrV2_OnlyForTcp(string service, string message)
    {
        var errors = Errors(Header + $"services:\n  - name: s\n    {service}\n", out _);

        Assert.Contains(errors, e => e.Path == "services[0].proxy_protocol" && e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void AllErrors_AreCollected()
    {
        var errors = Errors("edge: nope\ntoken: \"\"\nconnections: 99\nservices:\n  - name: BAD\n    target: htp://x\n", out _);

        Assert.Equal(["connections", "edge", "services[0].name", "services[0].target", "token"], errors.Select(e => e.Path).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ValidateAgent_CodeBuiltConfig_UsesTheSameRules()
    {
        var config = new AgentConfig
        {
            Edge = "localhost:7443",
            Token = "t",
            EdgeFingerprint = "AA:" + new string('b', 62),
            Services = [new ServiceConfig { Name = "web", Hostnames = ["a.example.com"], Target = new Uri("http://localhost:1") }],
        };

        Assert.Equal("aa" + new string('b', 62), ConfigLoader.ValidateAgent(config).EdgeFingerprint);

        var bad = config with { Services = [new ServiceConfig { Name = "web", Port = 80, Target = new Uri("http://localhost:1") }] };
        var error = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.ValidateAgent(bad)).Errors, e => e.Path == "services[0].port");
        Assert.Null(error.File);
        Assert.Null(error.Line);
    }

    [Fact]
    public void ValidateAgent_MissingTarget_IsAnErrorNotACrash()
    {
        var config = new AgentConfig { Edge = "a:1", Token = "t", Services = [new ServiceConfig { Name = "web", Hostnames = ["a.example.com"] }] };

        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.ValidateAgent(config)).Errors;

        Assert.Contains(errors, e => e.Path == "services[0].target");
    }
}
