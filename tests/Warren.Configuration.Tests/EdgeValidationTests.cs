namespace Warren.Configuration.Tests;

/// <summary>Every edge rule: the error names the file, the line and the field, and never a token's value.</summary>
public sealed class EdgeValidationTests : IDisposable
{
    private const string Secret = "super-secret-token-value";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private IReadOnlyList<ConfigError> Errors(string body, out string path)
    {
        path = _files.Write("edge.yaml", body);
        return TestFiles.EdgeErrors(path);
    }

    [Theory]
    [InlineData("http: 80", "listen.http", "'80' is not a valid address")]
    [InlineData("https: \"::1:443\"", "listen.https", "is not a valid address")]
    [InlineData("agents: \"\"", "listen.agents", "required")]
    [InlineData("admin: localhost:99999", "listen.admin", "is not a valid address")]
    public void Listen_AddressesMustBeHostPort(string line, string field, string message)
    {
        var errors = Errors($"listen:\n  {line}\n", out var path);

        TestFiles.AssertError(errors, path, 2, field, message);
    }

    [Fact]
    public void Listen_PortZero_IsAllowed()
    {
        var config = ConfigLoader.LoadEdge(_files.Write("edge.yaml", "listen:\n  http: 127.0.0.1:0\n  agents: 127.0.0.1:0\n  admin: 127.0.0.1:0\n"), TestFiles.NoEnvironment);

        Assert.Equal("127.0.0.1:0", config.Listen.Agents);
    }

    [Theory]
    [InlineData("127.0.0.1:9000", "127.0.0.1:9000")]
    [InlineData("0.0.0.0:9000", "127.0.0.1:9000")]
    [InlineData("[::]:9000", "localhost:9000")]
    public void Listen_SameAddressTwice_IsAnError(string http, string agents)
    {
        var errors = Errors($"listen:\n  http: \"{http}\"\n  agents: \"{agents}\"\n", out var path);

        TestFiles.AssertError(errors, path, 3, "listen.agents", "overlaps listen.http");
    }

    [Fact]
    public void Listen_SamePortOnDifferentAddresses_IsFine()
    {
        var config = ConfigLoader.LoadEdge(_files.Write("edge.yaml", "listen:\n  http: 127.0.0.1:9000\n  agents: 127.0.0.2:9000\n"), TestFiles.NoEnvironment);

        Assert.Equal("127.0.0.2:9000", config.Listen.Agents);
    }

    [Fact]
    public void Certificate_MissingFile_IsNamed()
    {
        _files.Write("site.key", "key");
        var errors = Errors("certificates:\n  - hosts: [example.com]\n    cert: missing.crt\n    key: site.key\n", out var path);

        TestFiles.AssertError(errors, path, 3, "certificates[0].cert", $"file not found: {Path.Combine(_files.Directory, "missing.crt")}");
        Assert.Single(errors);
    }

    [Fact]
    public void Certificate_NeedsHostsCertAndKey()
    {
        var errors = Errors("certificates:\n  - cert: \"\"\n", out var path);

        TestFiles.AssertError(errors, path, 2, "certificates[0].hosts", "required");
        TestFiles.AssertError(errors, path, 2, "certificates[0].cert", "required");
        TestFiles.AssertError(errors, path, 2, "certificates[0].key", "required");
    }

    [Fact]
    public void Certificate_HostsMustBeValid()
    {
        _files.Write("a.crt", "c");
        _files.Write("a.key", "k");
        var errors = Errors("certificates:\n  - hosts:\n      - Example.com\n    cert: a.crt\n    key: a.key\n", out var path);

        TestFiles.AssertError(errors, path, 3, "certificates[0].hosts[0]", "must be lowercase");
    }

    [Fact]
    public void AgentTls_CertWithoutKey_IsAnError()
    {
        var cert = _files.Write("agents.crt", "c");
        var errors = Errors($"agent_tls:\n  cert: {cert}\n", out var path);

        TestFiles.AssertError(errors, path, 1, "agent_tls.key", "needs both cert and key");
    }

    [Fact]
    public void AgentTls_MissingKeyFile_IsNamed()
    {
        var cert = _files.Write("agents.crt", "c");
        var errors = Errors($"agent_tls:\n  cert: {cert}\n  key: /nonexistent/agents.key\n", out var path);

        TestFiles.AssertError(errors, path, 3, "agent_tls.key", "file not found: /nonexistent/agents.key");
    }

    [Fact]
    public void Tokens_NamesMustBeUnique()
    {
        var errors = Errors($"""
            tokens:
              - name: lab
                token: {Secret}-1
              - name: lab
                token: {Secret}-2
            """, out var path);

        TestFiles.AssertError(errors, path, 4, "tokens[1].name", "'lab' is already the name of tokens[0]");
    }

    [Fact]
    public void Tokens_NameMustBeValid()
    {
        var errors = Errors($"tokens:\n  - name: \"Lab Box\"\n    token: {Secret}\n", out var path);

        TestFiles.AssertError(errors, path, 2, "tokens[0].name", "is not a valid token name");
    }

    [Fact]
    public void Tokens_NeedExactlyOneOfTokenAndHash()
    {
        var errors = Errors($"""
            tokens:
              - name: neither
              - name: both
                token: {Secret}
                token_sha256: {new string('a', 64)}
            """, out var path);

        TestFiles.AssertError(errors, path, 2, "tokens[0]", "needs token");
        TestFiles.AssertError(errors, path, 3, "tokens[1]", "has both token and token_sha256");
        AssertNoSecret(errors);
    }

    [Theory]
    [InlineData("short")]
    [InlineData("0123456789abcde")]
    public void Tokens_TooShort_IsAnErrorThatHidesTheValue(string token)
    {
        var errors = Errors($"tokens:\n  - name: lab\n    token: {token}\n", out var path);

        var error = TestFiles.AssertError(errors, path, 3, "tokens[0].token", "must be 16 to 512 characters");
        Assert.DoesNotContain(token, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Tokens_TooLong_IsAnError()
    {
        var errors = Errors($"tokens:\n  - name: lab\n    token: {new string('x', 513)}\n", out var path);

        TestFiles.AssertError(errors, path, 3, "tokens[0].token", "(it is 513;");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("super-secret-token-value-that-is-not-hex-at-all-but-64-chars-xyz")]
    public void Tokens_HashMustBe64Hex_AndIsNotEchoed(string hash)
    {
        var errors = Errors($"tokens:\n  - name: lab\n    token_sha256: {hash}\n", out var path);

        var error = TestFiles.AssertError(errors, path, 3, "tokens[0].token_sha256", "must be 64 hex digits");
        // The message without the file's path: the temporary folder's random hex name may contain "abc" by chance.
        Assert.DoesNotContain(hash, error.ToString().Replace(path, "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void Tokens_SameTokenTwice_IsAnError_EvenWhenOneIsHashed()
    {
        // sha256("super-secret-token-value")
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Secret)));
        var errors = Errors($"tokens:\n  - name: a\n    token: {Secret}\n  - name: b\n    token_sha256: {hash}\n", out var path);

        TestFiles.AssertError(errors, path, 4, "tokens[1]", "has the same token as tokens[0]");
        AssertNoSecret(errors);
    }

    [Fact]
    public void Tokens_AllowHostsAndPorts_AreChecked()
    {
        var errors = Errors($"tokens:\n  - name: a\n    token: {Secret}\n    allow_hosts: [\"bad host\"]\n    allow_ports: [0]\n", out var path);

        TestFiles.AssertError(errors, path, 4, "tokens[0].allow_hosts[0]", "is not a valid hostname");
        TestFiles.AssertError(errors, path, 5, "tokens[0].allow_ports[0]", "must be 1 to 65535");
    }

    [Fact]
    public void Tokens_UnsetVariable_IsAnError()
    {
        var errors = Errors("tokens:\n  - name: a\n    token: ${LAB_TOKEN}\n", out var path);

        TestFiles.AssertError(errors, path, 3, "tokens[0].token", "LAB_TOKEN is not set");
    }

    [Fact]
    public void Limits_AreChecked()
    {
        var errors = Errors("limits:\n  max_request_body_size: 0\n  max_connections: 0\n  request_headers_timeout: 0\n", out var path);

        TestFiles.AssertError(errors, path, 2, "limits.max_request_body_size", "must be more than 0");
        TestFiles.AssertError(errors, path, 3, "limits.max_connections", "must be at least 1");
        TestFiles.AssertError(errors, path, 4, "limits.request_headers_timeout", "must be longer than 0");
    }

    [Fact]
    public void ValidateEdge_CodeBuiltConfig_NormalisesAndChecks()
    {
        var config = new EdgeConfig
        {
            Listen = new ListenConfig { Http = "127.0.0.1:0", Agents = "127.0.0.1:0", Admin = "127.0.0.1:0" },
            Tokens = [new EdgeTokenConfig { Name = "demo", TokenSha256 = new string('F', 64) }],
            AgentTls = new AgentLinkConfig { Insecure = true },
        };

        Assert.Equal(new string('f', 64), ConfigLoader.ValidateEdge(config).Tokens[0].TokenSha256);

        var bad = config with { Tokens = [new EdgeTokenConfig { Name = "demo", Token = "short" }] };
        var error = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.ValidateEdge(bad)).Errors);
        Assert.Equal("tokens[0].token", error.Path);
        Assert.Null(error.Line);
    }

    private static void AssertNoSecret(IReadOnlyList<ConfigError> errors) =>
        Assert.All(errors, e => Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal));
}
