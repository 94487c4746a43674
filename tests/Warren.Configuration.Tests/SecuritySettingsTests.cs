namespace Warren.Configuration.Tests;

/// <summary>admin_token, trusted_proxies and the per-IP limits (docs/security.md): parsed, validated, never echoed.</summary>
public sealed class SecuritySettingsTests : IDisposable
{
    private const string AgentHeader = "edge: edge.example.com:7443\ntoken: agent-token\n";
    private const string GoodAdminToken = "0123456789abcdef-admin";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Theory]
    [InlineData("0.0.0.0:9090")]
    [InlineData("\"[::]:9090\"")]
    [InlineData("10.1.2.3:9090")]
    public void Edge_AdminOffLoopback_WithoutToken_IsAnError(string address)
    {
        var path = _files.Write("edge.yaml", $"listen:\n  admin: {address}\n");

        var error = TestFiles.AssertError(TestFiles.EdgeErrors(path), path, 2, "listen.admin", "is not a loopback address");
        Assert.Contains("admin_token", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:9090")]
    [InlineData("127.0.0.5:9090")]
    [InlineData("\"[::1]:9090\"")]
    [InlineData("localhost:9090")]
    public void Edge_AdminOnLoopback_NeedsNoToken(string address)
    {
        var config = ConfigLoader.LoadEdge(_files.Write("edge.yaml", $"listen:\n  admin: {address}\n"), TestFiles.NoEnvironment);

        Assert.Null(config.AdminToken);
    }

    [Fact]
    public void Edge_AdminOffLoopback_WithTokenFromEnvironment_Loads()
    {
        var path = _files.Write("edge.yaml", "listen:\n  admin: 0.0.0.0:9090\nadmin_token: ${ADMIN}\n");

        var config = ConfigLoader.LoadEdge(path, new Dictionary<string, string?> { ["ADMIN"] = GoodAdminToken });
        Assert.Equal(GoodAdminToken, config.AdminToken);
        // WARREN_ADMIN_TOKEN overrides the file, as every other setting.
        config = ConfigLoader.LoadEdge(path, new Dictionary<string, string?> { ["ADMIN"] = GoodAdminToken, ["WARREN_ADMIN_TOKEN"] = GoodAdminToken + "-env" });
        Assert.Equal(GoodAdminToken + "-env", config.AdminToken);
    }

    [Theory]
    [InlineData("short-secret", "must be 16 to 512 characters long (it is 12")]
    [InlineData("\"with a space in the token\"", "visible ASCII characters, no spaces")]
    public void AdminToken_Weak_IsAnError_WithoutShowingIt(string token, string message)
    {
        var edge = _files.Write("edge.yaml", $"listen:\n  admin: 0.0.0.0:9090\nadmin_token: {token}\n");
        var agent = _files.Write("agent.yaml", $"{AgentHeader}admin: 0.0.0.0:9091\nadmin_token: {token}\n");

        foreach (var (path, errors) in new[] { (edge, TestFiles.EdgeErrors(edge)), (agent, TestFiles.AgentErrors(agent)) })
        {
            var error = TestFiles.AssertError(errors, path, path == edge ? 3 : 4, "admin_token", message);
            Assert.DoesNotContain(token.Trim('"'), error.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Agent_AdminOffLoopback_NeedsAToken()
    {
        var path = _files.Write("agent.yaml", $"{AgentHeader}admin: 0.0.0.0:9091\n");
        TestFiles.AssertError(TestFiles.AgentErrors(path), path, 3, "admin", "is not a loopback address");

        var config = ConfigLoader.LoadAgent(path, new Dictionary<string, string?> { ["WARREN_ADMIN_TOKEN"] = GoodAdminToken });
        Assert.Equal(GoodAdminToken, config.AdminToken);
        Assert.Null(ConfigLoader.LoadAgent(_files.Write("local.yaml", $"{AgentHeader}admin: 127.0.0.1:9091\n"), TestFiles.NoEnvironment).AdminToken);
    }

    [Fact]
    public void TrustedProxies_AddressesAndRanges_Load()
    {
        var path = _files.Write("edge.yaml", "trusted_proxies: [10.0.0.5, 10.0.0.0/8, \"2001:db8::/32\", \"::1\"]\n");

        var config = ConfigLoader.LoadEdge(path, TestFiles.NoEnvironment);

        Assert.Equal(["10.0.0.5", "10.0.0.0/8", "2001:db8::/32", "::1"], config.TrustedProxies);
        Assert.Empty(ConfigLoader.LoadEdge(_files.Write("none.yaml", "data: ./d\n"), TestFiles.NoEnvironment).TrustedProxies);
    }

    [Theory]
    [InlineData("proxy.example.com", "is not an IP address or CIDR range")]
    [InlineData("10.0.0.1/8", "is not an IP address or CIDR range")]
    [InlineData("10.0.0.0/33", "is not an IP address or CIDR range")]
    [InlineData("0.0.0.0/0", "trusts every address")]
    [InlineData("\"::/0\"", "trusts every address")]
    [InlineData("\"::ffff:10.0.0.1\"", "write it as IPv4")]
    public void TrustedProxies_BadEntry_IsAnError(string entry, string message)
    {
        var path = _files.Write("edge.yaml", $"trusted_proxies:\n  - 127.0.0.1\n  - {entry}\n");

        TestFiles.AssertError(TestFiles.EdgeErrors(path), path, 3, "trusted_proxies[1]", message);
    }

    [Fact]
    public void Limits_PerIp_AreConfigurable_WithDefaultsUnchanged()
    {
        var defaults = ConfigLoader.LoadEdge(_files.Write("edge.yaml", "data: ./d\n"), TestFiles.NoEnvironment).Limits;
        Assert.Equal(2048, defaults.MaxConnectionsPerIp);
        Assert.Equal(10, defaults.MaxAuthFailuresPerIp);
        Assert.Equal(TimeSpan.FromMinutes(1), defaults.AuthFailureWindow);

        var path = _files.Write("set.yaml", "limits:\n  max_connections_per_ip: 64\n  max_auth_failures_per_ip: 3\n  auth_failure_window: 10m\n");
        var limits = ConfigLoader.LoadEdge(path, new Dictionary<string, string?> { ["WARREN_LIMITS__MAX_CONNECTIONS_PER_IP"] = "32" }).Limits;
        Assert.Equal(32, limits.MaxConnectionsPerIp);
        Assert.Equal(3, limits.MaxAuthFailuresPerIp);
        Assert.Equal(TimeSpan.FromMinutes(10), limits.AuthFailureWindow);
    }

    [Fact]
    public void Limits_PerIp_OutOfRange_AreErrors()
    {
        var path = _files.Write("edge.yaml", "limits:\n  max_connections_per_ip: 0\n  max_auth_failures_per_ip: 0\n  auth_failure_window: 500ms\n");

        var errors = TestFiles.EdgeErrors(path);

        TestFiles.AssertError(errors, path, 2, "limits.max_connections_per_ip", "must be 1 to 1000000 (it is 0)");
        TestFiles.AssertError(errors, path, 3, "limits.max_auth_failures_per_ip", "must be 1 to 1000000 (it is 0)");
        TestFiles.AssertError(errors, path, 4, "limits.auth_failure_window", "must be 1s to 24h");
    }

    [Fact]
    public void Limits_MaxServicesPerSession_IsConfigurable_AndBounded()
    {
        Assert.Equal(1000, ConfigLoader.LoadEdge(_files.Write("edge.yaml", "data: ./d\n"), TestFiles.NoEnvironment).Limits.MaxServicesPerSession);
        Assert.Equal(50, ConfigLoader.LoadEdge(_files.Write("set.yaml", "limits:\n  max_services_per_session: 50\n"), TestFiles.NoEnvironment).Limits.MaxServicesPerSession);

        var path = _files.Write("bad.yaml", "limits:\n  max_services_per_session: 0\n");
        TestFiles.AssertError(TestFiles.EdgeErrors(path), path, 2, "limits.max_services_per_session", "must be 1 to 100000 (it is 0)");
    }

    [Fact]
    public void ListenTcpAddress_DefaultsToAllInterfaces_AndMustBeAnIpAddress()
    {
        Assert.Equal("0.0.0.0", ConfigLoader.LoadEdge(_files.Write("edge.yaml", "data: ./d\n"), TestFiles.NoEnvironment).Listen.TcpAddress);
        Assert.Equal("127.0.0.1", ConfigLoader.LoadEdge(_files.Write("set.yaml", "listen:\n  tcp_address: 127.0.0.1\n"), TestFiles.NoEnvironment).Listen.TcpAddress);
        Assert.Equal("::", ConfigLoader.LoadEdge(_files.Write("v6.yaml", "listen:\n  tcp_address: \"::\"\n"), TestFiles.NoEnvironment).Listen.TcpAddress);

        foreach (var bad in new[] { "localhost", "10.0.0.5:22", "[::1]", "1" })
        {
            var path = _files.Write("bad.yaml", $"listen:\n  tcp_address: \"{bad}\"\n");
            TestFiles.AssertError(TestFiles.EdgeErrors(path), path, 2, "listen.tcp_address", "is not an IP address");
        }
    }

    [Fact]
    public void TokenAllowHosts_UseTheHostnameRules()
    {
        var path = _files.Write("edge.yaml", "tokens:\n  - name: t\n    token_sha256: " + new string('a', 64) + "\n    allow_hosts: [\"*.b\u00fccher.example\", \"*.xn--bcher-kva.example\"]\n");

        var errors = TestFiles.EdgeErrors(path);
        TestFiles.AssertError(errors, path, 4, "tokens[0].allow_hosts[0]", "is not ASCII; write an internationalised name as its IDNA A-label form ('*.xn--bcher-kva.example')");
        Assert.DoesNotContain(errors, e => e.Path == "tokens[0].allow_hosts[1]");
    }

    [Fact]
    public void Limits_SlowClientsFloodsAndIpv6_AreConfigurable_WithTheirDefaults()
    {
        var defaults = ConfigLoader.LoadEdge(_files.Write("edge.yaml", "data: ./d\n"), TestFiles.NoEnvironment).Limits;
        Assert.Equal(64, defaults.MaxAgentConnectionsPerIp);
        Assert.Equal(128, defaults.MaxRequestsPerIpPerService);
        Assert.Equal(TimeSpan.FromSeconds(30), defaults.RequestQueueTimeout);
        Assert.Equal(1024, defaults.MinRequestBodyDataRate);
        Assert.Equal(1024, defaults.MinResponseDataRate);
        Assert.Equal(TimeSpan.FromSeconds(5), defaults.DataRateGracePeriod);
        Assert.Equal(128, defaults.MaxTcpConnectionsPerIp);
        Assert.Equal(1024, defaults.MaxTcpConnectionsPerService);
        Assert.Equal(4, defaults.Ipv6SubnetFactor);

        var path = _files.Write("set.yaml", """
            limits:
              max_agent_connections_per_ip: 8
              max_requests_per_ip_per_service: 16
              request_queue_timeout: 2s
              min_request_body_data_rate: 2KiB
              min_response_data_rate: 0
              data_rate_grace_period: 10s
              max_tcp_connections_per_ip: 32
              max_tcp_connections_per_service: 100
              ipv6_subnet_factor: 1
            """);
        var limits = ConfigLoader.LoadEdge(path, new Dictionary<string, string?> { ["WARREN_LIMITS__MAX_REQUESTS_PER_IP_PER_SERVICE"] = "24" }).Limits;
        Assert.Equal(8, limits.MaxAgentConnectionsPerIp);
        Assert.Equal(24, limits.MaxRequestsPerIpPerService);
        Assert.Equal(TimeSpan.FromSeconds(2), limits.RequestQueueTimeout);
        Assert.Equal(2048, limits.MinRequestBodyDataRate);
        Assert.Equal(0, limits.MinResponseDataRate);
        Assert.Equal(TimeSpan.FromSeconds(10), limits.DataRateGracePeriod);
        Assert.Equal(32, limits.MaxTcpConnectionsPerIp);
        Assert.Equal(100, limits.MaxTcpConnectionsPerService);
        Assert.Equal(1, limits.Ipv6SubnetFactor);
    }

    [Fact]
    public void Limits_SlowClientsFloodsAndIpv6_OutOfRange_AreErrors()
    {
        var path = _files.Write("edge.yaml", """
            limits:
              max_agent_connections_per_ip: 0
              max_requests_per_ip_per_service: 0
              request_queue_timeout: 0
              min_request_body_data_rate: 2GB
              data_rate_grace_period: 1s
              max_tcp_connections_per_ip: 0
              max_tcp_connections_per_service: 0
              ipv6_subnet_factor: 0
            """);

        var errors = TestFiles.EdgeErrors(path);

        TestFiles.AssertError(errors, path, 2, "limits.max_agent_connections_per_ip", "must be 1 to 1000000 (it is 0)");
        TestFiles.AssertError(errors, path, 3, "limits.max_requests_per_ip_per_service", "must be 1 to 1000000 (it is 0)");
        TestFiles.AssertError(errors, path, 4, "limits.request_queue_timeout", "must be longer than 0");
        TestFiles.AssertError(errors, path, 5, "limits.min_request_body_data_rate", "must be 0 (off) to 1GB bytes per second");
        TestFiles.AssertError(errors, path, 6, "limits.data_rate_grace_period", "must be 2s to 3600s");
        TestFiles.AssertError(errors, path, 7, "limits.max_tcp_connections_per_ip", "must be 1 to 1000000 (it is 0)");
        TestFiles.AssertError(errors, path, 8, "limits.max_tcp_connections_per_service", "must be 1 to 1000000 (it is 0)");
        TestFiles.AssertError(errors, path, 9, "limits.ipv6_subnet_factor", "must be 1 to 65536 (it is 0)");
    }

    [Theory]
    [InlineData("Bearer " + GoodAdminToken, true)]
    [InlineData("bearer " + GoodAdminToken, true)]
    [InlineData("Bearer " + GoodAdminToken + "x", false)]
    [InlineData("Bearer 0123456789abcdef-admiN", false)]
    [InlineData("Basic " + GoodAdminToken, false)]
    [InlineData(GoodAdminToken, false)]
    [InlineData("Bearer ", false)]
    [InlineData(null, false)]
    public void AdminAccess_ChecksTheBearerToken(string? authorization, bool expected) =>
        Assert.Equal(expected, AdminAccess.IsAuthorized(authorization, GoodAdminToken));

    [Fact]
    public void AdminAccess_OnlyTheProbesAreOpen()
    {
        Assert.True(AdminAccess.IsProbe("/healthz"));
        Assert.True(AdminAccess.IsProbe("/readyz"));
        Assert.False(AdminAccess.IsProbe("/metrics"));
        Assert.False(AdminAccess.IsProbe("/api/status"));
        Assert.False(AdminAccess.IsProbe("/healthz/../api/status"));
    }

    [Fact]
    public void Sealed_records_are_on_by_default_and_each_side_can_keep_its_links_on_TLS()
    {
        Assert.True(ConfigLoader.LoadEdge(_files.Write("edge.yaml", "# defaults\n"), TestFiles.NoEnvironment).AgentTls.SealedRecords);
        Assert.True(ConfigLoader.LoadAgent(_files.Write("agent.yaml", AgentHeader), TestFiles.NoEnvironment).SealedRecords);

        Assert.False(ConfigLoader.LoadEdge(_files.Write("edge.yaml", "agent_tls:\n  sealed_records: false\n"), TestFiles.NoEnvironment).AgentTls.SealedRecords);
        Assert.False(ConfigLoader.LoadAgent(_files.Write("agent.yaml", AgentHeader + "sealed_records: false\n"), TestFiles.NoEnvironment).SealedRecords);

        // Overridable, as the other link settings are: the environment beats the file.
        var environment = TestFiles.NoEnvironment;
        environment["WARREN_AGENT_TLS__SEALED_RECORDS"] = "false";
        environment["WARREN_SEALED_RECORDS"] = "false";
        Assert.False(ConfigLoader.LoadEdge(_files.Write("edge.yaml", "agent_tls:\n  sealed_records: true\n"), environment).AgentTls.SealedRecords);
        Assert.False(ConfigLoader.LoadAgent(_files.Write("agent.yaml", AgentHeader + "sealed_records: true\n"), environment).SealedRecords);
    }

    [Fact]
    public void A_sealed_records_value_that_is_not_a_bool_is_an_error_with_its_line()
    {
        var edge = _files.Write("edge.yaml", "agent_tls:\n  sealed_records: sometimes\n");
        TestFiles.AssertError(TestFiles.EdgeErrors(edge), edge, 2, "agent_tls.sealed_records", "is not true or false");

        var agent = _files.Write("agent.yaml", AgentHeader + "sealed_records: 1\n");
        TestFiles.AssertError(TestFiles.AgentErrors(agent), agent, 3, "sealed_records", "is not true or false");
    }
}
