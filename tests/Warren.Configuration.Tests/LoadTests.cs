namespace Warren.Configuration.Tests;

public sealed class LoadTests : IDisposable
{
    private const string Token = "0123456789abcdef0123456789abcdef";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Agent_FullFile_RoundTripsToRecords()
    {
        var path = _files.Write("agent.yaml", """
            edge: edge.example.com:7443
            token: ${AGENT_TOKEN}
            edge_fingerprint: "AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"
            insecure: false
            name: lab-1
            connections: 4
            admin: 127.0.0.1:9091
            services:
              - name: web
                hostnames: [app.example.com, "*.apps.example.com"]
                path_prefix: /api
                target: https://10.0.0.5:8443
                max_concurrency: 1000
                queue_timeout: 500ms
                dial_timeout: 2s
                response_timeout: 2m
                max_request_body_size: 1MiB
                insecure_skip_verify: true
              - name: ssh
                port: 2222
                target: tcp://10.0.0.2:22
            """);

        var config = ConfigLoader.LoadAgent(path, new Dictionary<string, string?> { ["AGENT_TOKEN"] = Token });

        Assert.Equal("edge.example.com:7443", config.Edge);
        Assert.Equal(Token, config.Token);
        Assert.Equal("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", config.EdgeFingerprint);
        Assert.False(config.Insecure);
        Assert.Equal("lab-1", config.Name);
        Assert.Equal(4, config.Connections);
        Assert.Equal("127.0.0.1:9091", config.Admin);
        Assert.Equal(path, config.SourcePath);
        Assert.Equal(2, config.Services.Count);

        var web = config.Services[0];
        Assert.Equal("web", web.Name);
        Assert.Equal(["app.example.com", "*.apps.example.com"], web.Hostnames);
        Assert.Equal("/api", web.PathPrefix);
        Assert.Null(web.Port);
        Assert.Equal(new Uri("https://10.0.0.5:8443"), web.Target);
        Assert.False(web.IsTcp);
        Assert.Equal(1000, web.MaxConcurrency);
        Assert.Equal(TimeSpan.FromMilliseconds(500), web.QueueTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), web.DialTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), web.ResponseTimeout);
        Assert.Equal(1L << 20, web.MaxRequestBodySize);
        Assert.True(web.InsecureSkipVerify);

        var ssh = config.Services[1];
        Assert.Equal(ssh with { }, ssh);
        Assert.True(ssh.IsTcp);
        Assert.Equal(2222, ssh.Port);
        Assert.Empty(ssh.Hostnames);
        Assert.Equal(new Uri("tcp://10.0.0.2:22"), ssh.Target);
        Assert.Equal(new ServiceConfig().MaxConcurrency, ssh.MaxConcurrency);
        Assert.Equal(new ServiceConfig().ResponseTimeout, ssh.ResponseTimeout);
        Assert.Null(ssh.MaxRequestBodySize);
    }

    [Fact]
    public void Edge_FullFile_RoundTripsToRecords()
    {
        _files.Write("site.crt", "cert");
        _files.Write("site.key", "key");
        var agentsCert = _files.Write("agents.crt", "cert");
        var agentsKey = _files.Write("agents.key", "key");
        var hash = new string('A', 64);
        var path = _files.Write("edge.yaml", $"""
            listen:
              http: 0.0.0.0:8080
              https: "[::]:8443"
              agents: 0.0.0.0:7443
              admin: 127.0.0.1:0
            certificates:
              - hosts: [example.com, "*.example.com"]
                cert: site.crt
                key: ./site.key
            data: state
            tokens:
              - name: lab
                token: {Token}
                allow_hosts: ["*.lab.example.com"]
                allow_ports: [2222, 2223]
              - name: office
                token_sha256: {hash}
            agent_tls:
              cert: {agentsCert}
              key: {agentsKey}
            limits:
              max_request_body_size: 1GiB
              max_connections: 500
              request_headers_timeout: 15s
              idle_timeout: 1h
            """);

        var config = ConfigLoader.LoadEdge(path, TestFiles.NoEnvironment);

        Assert.Equal(new ListenConfig { Http = "0.0.0.0:8080", Https = "[::]:8443", Agents = "0.0.0.0:7443", Admin = "127.0.0.1:0" }, config.Listen);
        var certificate = Assert.Single(config.Certificates);
        Assert.Equal(["example.com", "*.example.com"], certificate.Hosts);
        Assert.Equal(Path.Combine(_files.Directory, "site.crt"), certificate.Cert);
        Assert.Equal(Path.Combine(_files.Directory, "site.key"), certificate.Key);
        Assert.Equal(Path.Combine(_files.Directory, "state"), config.DataDirectory);
        Assert.Equal(2, config.Tokens.Count);
        Assert.Equal("lab", config.Tokens[0].Name);
        Assert.Equal(Token, config.Tokens[0].Token);
        Assert.Null(config.Tokens[0].TokenSha256);
        Assert.Equal(["*.lab.example.com"], config.Tokens[0].AllowHosts);
        Assert.Equal([2222, 2223], config.Tokens[0].AllowPorts);
        Assert.Equal(new string('a', 64), config.Tokens[1].TokenSha256);
        Assert.Null(config.Tokens[1].Token);
        Assert.Equal(new AgentLinkConfig { Cert = agentsCert, Key = agentsKey }, config.AgentTls);
        Assert.Equal(new EdgeLimitsConfig
        {
            MaxRequestBodySize = 1L << 30,
            MaxConnections = 500,
            RequestHeadersTimeout = TimeSpan.FromSeconds(15),
            IdleTimeout = TimeSpan.FromHours(1),
        }, config.Limits);
        Assert.Equal(path, config.SourcePath);
    }

    [Fact]
    public void Edge_EmptyFile_GivesDefaults()
    {
        var path = _files.Write("edge.yaml", "# nothing yet\n");

        var config = ConfigLoader.LoadEdge(path, TestFiles.NoEnvironment);

        var defaults = new EdgeConfig();
        Assert.Equal(defaults.Listen, config.Listen);
        Assert.Equal(defaults.AgentTls, config.AgentTls);
        Assert.Equal(defaults.Limits, config.Limits);
        Assert.Empty(config.Certificates);
        Assert.Empty(config.Tokens);
        Assert.Equal("0.0.0.0:80", config.Listen.Http);
        Assert.Null(config.Listen.Https);
        Assert.Equal("./warren-data", config.DataDirectory);
    }

    [Fact]
    public void Edge_EmptyHttp_TurnsItOff()
    {
        var path = _files.Write("edge.yaml", "listen:\n  http: \"\"\n");

        Assert.Null(ConfigLoader.LoadEdge(path, TestFiles.NoEnvironment).Listen.Http);
    }

    [Fact]
    public void Examples_InDeployFolder_AreValid()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "examples");
        var environment = new Dictionary<string, string?> { ["WARREN_HOME_LAB_TOKEN"] = Token, ["WARREN_TOKEN"] = Token };

        var edge = ConfigLoader.LoadEdge(Path.Combine(folder, "edge.yaml"), environment);
        var agent = ConfigLoader.LoadAgent(Path.Combine(folder, "agent.yaml"), environment);

        Assert.NotEmpty(edge.Tokens);
        Assert.Equal(Token, edge.Tokens[0].Token);
        Assert.NotEmpty(agent.Services);
        Assert.Contains(agent.Services, s => s.IsTcp);
        Assert.Contains(agent.Services, s => !s.IsTcp);
    }

    [Fact]
    public void Examples_WithoutTheirTokenVariables_FailNamingTheVariable()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "examples");

        var errors = TestFiles.EdgeErrors(Path.Combine(folder, "edge.yaml"));

        Assert.Contains(errors, e => e.Message.Contains("WARREN_HOME_LAB_TOKEN is not set", StringComparison.Ordinal));
    }

    [Fact]
    public void MissingFile_SaysFileNotFound()
    {
        var errors = TestFiles.AgentErrors("agent.yaml");

        Assert.Equal("agent.yaml: file not found", Assert.Single(errors).ToString());
    }

    [Fact]
    public void YamlSyntaxError_NamesFileAndLine()
    {
        var path = _files.Write("agent.yaml", "edge: a:1\ntoken: x\nservices:\n  - name: [unclosed\n");

        var error = Assert.Single(TestFiles.AgentErrors(path));

        Assert.Equal(path, error.File);
        Assert.True(error.Line is >= 4, error.ToString());
        Assert.Contains("YAML syntax error", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateKey_IsASyntaxErrorWithLine()
    {
        var path = _files.Write("agent.yaml", "edge: a:1\nedge: b:2\n");

        var error = Assert.Single(TestFiles.AgentErrors(path));

        Assert.Equal(2, error.Line);
        Assert.Contains("Duplicate key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RootNotAMapping_IsAnError()
    {
        var path = _files.Write("agent.yaml", "- edge: a:1\n");

        Assert.Contains("must be a mapping", Assert.Single(TestFiles.AgentErrors(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoFile_UsesDefaultsAndOverrides()
    {
        var config = ConfigLoader.LoadAgent(
            null,
            new Dictionary<string, string?> { ["WARREN_TOKEN"] = Token },
            new Dictionary<string, string> { ["edge"] = "localhost:7443", ["insecure"] = "true" });

        Assert.Equal("localhost:7443", config.Edge);
        Assert.Equal(Token, config.Token);
        Assert.True(config.Insecure);
        Assert.Null(config.SourcePath);
        Assert.Empty(config.Services);
    }

    [Fact]
    public void NoFile_WithoutRequiredSettings_SaysWhatIsMissing()
    {
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.LoadAgent(null, TestFiles.NoEnvironment)).Errors;

        Assert.Contains(errors, e => e.Path == "edge" && e.Message.Contains("required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "token" && e.Message.Contains("required", StringComparison.Ordinal));
    }

    [Fact]
    public void ConfigException_Message_ListsEveryErrorOnItsOwnLine()
    {
        var exception = Assert.Throws<ConfigException>(() => ConfigLoader.LoadAgent(null, TestFiles.NoEnvironment));

        var lines = exception.Message.Split(Environment.NewLine);
        Assert.Equal(exception.Errors.Count, lines.Length);
        Assert.Equal(exception.Errors.Select(e => e.ToString()), lines);
    }

    [Fact]
    public void ConfigError_ToString_MatchesTheDocumentedShape()
    {
        var error = new ConfigError("agent.yaml", 12, "services[2].target", "'htp://x' is not a valid target");

        Assert.Equal("agent.yaml:12: services[2].target: 'htp://x' is not a valid target", error.ToString());
        Assert.Equal("edge: required", new ConfigError(null, null, "edge", "required").ToString());
        Assert.Equal("a.yaml: edge: required", new ConfigError("a.yaml", null, "edge", "required").ToString());
    }
}
