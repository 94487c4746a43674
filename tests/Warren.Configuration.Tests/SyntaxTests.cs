namespace Warren.Configuration.Tests;

/// <summary>Unknown keys, wrong types, ${VAR} substitution, overrides, durations and sizes.</summary>
public sealed class SyntaxTests : IDisposable
{
    private const string Token = "0123456789abcdef0123456789abcdef";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void UnknownKey_NamesKeyFileLineAndSuggestsTheRightOne()
    {
        var path = _files.Write("agent.yaml", """
            edge: edge.example.com:7443
            token: x
            services:
              - name: web
                hostname: app.example.com
                target: http://localhost:8080
            """);

        var errors = TestFiles.AgentErrors(path);

        TestFiles.AssertError(errors, path, 5, "services[0].hostname", "unknown key 'hostname'; did you mean 'hostnames'?");
    }

    [Fact]
    public void UnknownKey_AtTopLevel_IsAnError()
    {
        var path = _files.Write("edge.yaml", "listen: {}\ntokenz: []\n");

        TestFiles.AssertError(TestFiles.EdgeErrors(path), path, 2, "tokenz", "unknown key 'tokenz'");
    }

    [Fact]
    public void ListWhereAStringBelongs_IsAnErrorWithLine()
    {
        var path = _files.Write("agent.yaml", "token: x\nedge:\n  - a:1\n  - b:2\n");

        TestFiles.AssertError(TestFiles.AgentErrors(path), path, 3, "edge", "expected a single value, found a list");
    }

    [Fact]
    public void StringWhereAListBelongs_IsAnErrorWithLine()
    {
        var path = _files.Write("agent.yaml", """
            edge: a:1
            token: x
            services:
              - name: web
                hostnames: app.example.com
                target: http://localhost:8080
            """);

        TestFiles.AssertError(TestFiles.AgentErrors(path), path, 5, "services[0].hostnames", "expected a list");
    }

    [Fact]
    public void NonNumericPort_IsAnErrorWithLine()
    {
        var path = _files.Write("agent.yaml", """
            edge: a:1
            token: x
            services:
              - name: db
                port: abc
                target: tcp://localhost:5432
            """);

        var errors = TestFiles.AgentErrors(path);

        TestFiles.AssertError(errors, path, 5, "services[0].port", "'abc' is not a whole number");
        // One cause, one message: no second "port is required" for the same field.
        Assert.Single(errors, e => e.Path == "services[0].port");
    }

    [Fact]
    public void BadBool_IsAnErrorWithLine()
    {
        var path = _files.Write("agent.yaml", "edge: a:1\ntoken: x\ninsecure: yes please\n");

        TestFiles.AssertError(TestFiles.AgentErrors(path), path, 3, "insecure", "is not true or false");
    }

    [Fact]
    public void Substitution_ReplacesVariablesDefaultsAndDollarEscapes()
    {
        var path = _files.Write("agent.yaml", """
            edge: ${EDGE_HOST}:${EDGE_PORT:-7443}
            token: ${TOKEN}
            name: cost-$$5-${MISSING:-x}-${EMPTY:-fallback}
            """);
        var environment = new Dictionary<string, string?> { ["EDGE_HOST"] = "edge.example.com", ["TOKEN"] = Token, ["EMPTY"] = "" };

        var config = ConfigLoader.LoadAgent(path, environment);

        Assert.Equal("edge.example.com:7443", config.Edge);
        Assert.Equal(Token, config.Token);
        Assert.Equal("cost-$5-x-fallback", config.Name);
    }

    [Fact]
    public void Substitution_UnsetVariable_IsAnErrorNotAnEmptyValue()
    {
        var path = _files.Write("agent.yaml", "edge: a:1\ntoken: ${AGENT_TOKEN}\n");

        var error = TestFiles.AssertError(TestFiles.AgentErrors(path), path, 2, "token", "environment variable AGENT_TOKEN is not set");

        Assert.Contains("${AGENT_TOKEN:-default}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Substitution_NullValuedVariable_CountsAsUnset()
    {
        var path = _files.Write("agent.yaml", "edge: a:1\ntoken: ${AGENT_TOKEN}\n");

        var errors = TestFiles.AgentErrors(path, new Dictionary<string, string?> { ["AGENT_TOKEN"] = null });

        TestFiles.AssertError(errors, path, 2, "token", "AGENT_TOKEN is not set");
    }

    [Theory]
    [InlineData("${UNCLOSED", "no closing")]
    [InlineData("${1BAD}", "not a valid variable reference")]
    [InlineData("${}", "not a valid variable reference")]
    public void Substitution_Malformed_IsAnError(string value, string message)
    {
        var path = _files.Write("agent.yaml", $"token: x\nedge: \"{value}\"\n");

        TestFiles.AssertError(TestFiles.AgentErrors(path), path, 2, "edge", message);
    }

    [Fact]
    public void Substitution_AppliesInsideLists()
    {
        var path = _files.Write("agent.yaml", """
            edge: a:1
            token: x
            services:
              - name: web
                hostnames: ["${APP_HOST}"]
                target: http://localhost:${APP_PORT}
            """);

        var service = ConfigLoader.LoadAgent(path, new Dictionary<string, string?> { ["APP_HOST"] = "app.example.com", ["APP_PORT"] = "3000" }).Services[0];

        Assert.Equal(["app.example.com"], service.Hostnames);
        Assert.Equal(3000, service.Target.Port);
    }

    [Fact]
    public void Overrides_FlagsBeatEnvironmentBeatFileBeatDefaults()
    {
        var path = _files.Write("agent.yaml", $"edge: file.example.com:1\ntoken: {Token}\nconnections: 2\n");
        var environment = new Dictionary<string, string?> { ["WARREN_EDGE"] = "env.example.com:2", ["WARREN_CONNECTIONS"] = "3" };
        var flags = new Dictionary<string, string> { ["edge"] = "flag.example.com:3" };

        var fileOnly = ConfigLoader.LoadAgent(path, TestFiles.NoEnvironment);
        var withEnvironment = ConfigLoader.LoadAgent(path, environment);
        var withFlags = ConfigLoader.LoadAgent(path, environment, flags);

        Assert.Equal("file.example.com:1", fileOnly.Edge);
        Assert.Equal(2, fileOnly.Connections);
        Assert.Equal(new AgentConfig().Admin, fileOnly.Admin);
        Assert.Equal("env.example.com:2", withEnvironment.Edge);
        Assert.Equal(3, withEnvironment.Connections);
        Assert.Equal("flag.example.com:3", withFlags.Edge);
        Assert.Equal(3, withFlags.Connections);
    }

    [Fact]
    public void Overrides_NestedKeys_UseDoubleUnderscoreAndDots()
    {
        var path = _files.Write("edge.yaml", "listen:\n  http: 0.0.0.0:80\n  admin: 127.0.0.1:9090\n");
        var environment = new Dictionary<string, string?>
        {
            ["WARREN_LISTEN__HTTP"] = "127.0.0.1:8080",
            ["WARREN_LIMITS__IDLE_TIMEOUT"] = "5m",
            ["WARREN_AGENT_TLS__INSECURE"] = "true",
            ["WARREN_TOKEN"] = "not an edge setting, ignored",
            ["WARREN_CONFIG"] = "the CLI's own, ignored",
        };
        var flags = new Dictionary<string, string> { ["listen.admin"] = "127.0.0.1:9999", ["limits.max-connections"] = "7" };

        var config = ConfigLoader.LoadEdge(path, environment, flags);

        Assert.Equal("127.0.0.1:8080", config.Listen.Http);
        Assert.Equal("127.0.0.1:9999", config.Listen.Admin);
        Assert.Equal(TimeSpan.FromMinutes(5), config.Limits.IdleTimeout);
        Assert.Equal(7, config.Limits.MaxConnections);
        Assert.True(config.AgentTls.Insecure);
    }

    [Fact]
    public void Overrides_ValuesAreLiteral_NotSubstituted()
    {
        var config = ConfigLoader.LoadAgent(null, TestFiles.NoEnvironment, new Dictionary<string, string>
        {
            ["edge"] = "a:1",
            ["token"] = "${NOT_EXPANDED}-and-long-enough",
        });

        Assert.Equal("${NOT_EXPANDED}-and-long-enough", config.Token);
    }

    [Fact]
    public void Overrides_BadValue_NamesTheVariable()
    {
        var errors = TestFiles.AgentErrors(_files.Write("agent.yaml", "edge: a:1\ntoken: x\n"), new Dictionary<string, string?> { ["WARREN_CONNECTIONS"] = "many" });

        var error = Assert.Single(errors);
        Assert.Equal("WARREN_CONNECTIONS: connections: 'many' is not a whole number", error.ToString());
    }

    [Fact]
    public void Overrides_BadFlagValue_SaysCommandLine()
    {
        var errors = TestFiles.AgentErrors(_files.Write("agent.yaml", "edge: a:1\ntoken: x\n"), overrides: new Dictionary<string, string> { ["edge"] = "nope" });

        Assert.StartsWith("command line: edge: 'nope' is not a valid address", Assert.Single(errors).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Overrides_UnknownFlag_IsAnError()
    {
        var errors = TestFiles.AgentErrors(_files.Write("agent.yaml", "edge: a:1\ntoken: x\n"), overrides: new Dictionary<string, string> { ["edgee"] = "a:1" });

        var error = Assert.Single(errors);
        Assert.Equal(ConfigLoader.CommandLineSource, error.File);
        Assert.Contains("'edgee' cannot be overridden", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10s", 10_000)]
    [InlineData("500ms", 500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("30", 30_000)]
    [InlineData("1.5", 1_500)]
    [InlineData("0.25s", 250)]
    [InlineData(" 3 s ", 3_000)]
    public void Duration_Parses(string text, long milliseconds)
    {
        Assert.True(ConfigFormats.TryParseDuration(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("ten seconds")]
    [InlineData("-5s")]
    [InlineData("5d")]
    [InlineData("1e3")]
    public void Duration_Rejects(string text) => Assert.False(ConfigFormats.TryParseDuration(text, out _));

    [Theory]
    [InlineData("30MB", 30_000_000)]
    [InlineData("1MiB", 1_048_576)]
    [InlineData("1GB", 1_000_000_000)]
    [InlineData("1GiB", 1_073_741_824)]
    [InlineData("512KB", 512_000)]
    [InlineData("512KiB", 524_288)]
    [InlineData("4096", 4096)]
    [InlineData("100B", 100)]
    [InlineData("1.5MB", 1_500_000)]
    [InlineData("30 mb", 30_000_000)]
    public void Size_Parses(string text, long bytes)
    {
        Assert.True(ConfigFormats.TryParseSize(text, out var value));
        Assert.Equal(bytes, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("-1MB")]
    [InlineData("1.5")]
    [InlineData("10PB")]
    [InlineData("99999999999TB")]
    public void Size_Rejects(string text) => Assert.False(ConfigFormats.TryParseSize(text, out _));

    [Fact]
    public void Duration_And_Size_InFiles_ReportBadValuesWithLine()
    {
        var path = _files.Write("edge.yaml", "limits:\n  idle_timeout: forever\n  max_request_body_size: huge\n");

        var errors = TestFiles.EdgeErrors(path);

        TestFiles.AssertError(errors, path, 2, "limits.idle_timeout", "'forever' is not a duration");
        TestFiles.AssertError(errors, path, 3, "limits.max_request_body_size", "'huge' is not a size");
    }

    [Theory]
    [InlineData("127.0.0.1:80", "127.0.0.1", 80)]
    [InlineData("[::1]:443", "::1", 443)]
    [InlineData("edge.example.com:7443", "edge.example.com", 7443)]
    [InlineData("localhost:0", "localhost", 0)]
    public void HostPort_Parses(string text, string host, int port)
    {
        Assert.True(ConfigFormats.TryParseHostPort(text, out var parsedHost, out var parsedPort));
        Assert.Equal(host, parsedHost);
        Assert.Equal(port, parsedPort);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData(":80")]
    [InlineData("host:65536")]
    [InlineData("host:-1")]
    [InlineData("::1:80")]
    [InlineData("[::1]80")]
    [InlineData("300.1.1.1:80")]
    [InlineData("bad_host:80")]
    [InlineData("http://host:80")]
    public void HostPort_Rejects(string text) => Assert.False(ConfigFormats.TryParseHostPort(text, out _, out _));
}
