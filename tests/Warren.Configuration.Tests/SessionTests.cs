namespace Warren.Configuration.Tests;

/// <summary>session: (keepalive of the agent link), read the same way by edge.yaml and agent.yaml.</summary>
public sealed class SessionTests : IDisposable
{
    private const string AgentHeader = "edge: edge.example.com:7443\ntoken: agent-token\n";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Defaults_Are10sAnd30s()
    {
        var agent = ConfigLoader.LoadAgent(_files.Write("agent.yaml", AgentHeader), TestFiles.NoEnvironment);
        var edge = ConfigLoader.LoadEdge(_files.Write("edge.yaml", "data: d\n"), TestFiles.NoEnvironment);

        Assert.Equal(new SessionConfig { KeepaliveInterval = TimeSpan.FromSeconds(10), KeepaliveTimeout = TimeSpan.FromSeconds(30) }, agent.Session);
        Assert.Equal(agent.Session, edge.Session);
    }

    [Fact]
    public void BothFiles_ReadKeepalive()
    {
        const string session = "session:\n  keepalive_interval: 500ms\n  keepalive_timeout: 2s\n";
        var agent = ConfigLoader.LoadAgent(_files.Write("agent.yaml", AgentHeader + session), TestFiles.NoEnvironment);
        var edge = ConfigLoader.LoadEdge(_files.Write("edge.yaml", session), TestFiles.NoEnvironment);

        var expected = new SessionConfig { KeepaliveInterval = TimeSpan.FromMilliseconds(500), KeepaliveTimeout = TimeSpan.FromSeconds(2) };
        Assert.Equal(expected, agent.Session);
        Assert.Equal(expected, edge.Session);
    }

    [Fact]
    public void EnvironmentAndFlags_OverrideKeepalive()
    {
        var path = _files.Write("agent.yaml", AgentHeader + "session:\n  keepalive_interval: 5s\n");
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal) { ["WARREN_SESSION__KEEPALIVE_TIMEOUT"] = "1m" };

        var agent = ConfigLoader.LoadAgent(path, environment, new Dictionary<string, string> { ["session.keepalive-interval"] = "15s" });
        var edge = ConfigLoader.LoadEdge(null, environment);

        Assert.Equal(TimeSpan.FromSeconds(15), agent.Session.KeepaliveInterval);
        Assert.Equal(TimeSpan.FromMinutes(1), agent.Session.KeepaliveTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), edge.Session.KeepaliveTimeout);
    }

    [Fact]
    public void Timeout_MustExceedInterval()
    {
        var path = _files.Write("agent.yaml", AgentHeader + "session:\n  keepalive_interval: 10s\n  keepalive_timeout: 10s\n");

        var errors = TestFiles.AgentErrors(path);

        TestFiles.AssertError(errors, path, 5, "session.keepalive_timeout", "must be longer than session.keepalive_interval (10s is not more than 10s)");
    }

    [Theory]
    [InlineData("keepalive_interval: 50ms", "session.keepalive_interval", "must be 0.1s to 3600s (it is 0.05s)")]
    [InlineData("keepalive_timeout: 2h", "session.keepalive_timeout", "must be 0.1s to 3600s (it is 7200s)")]
    [InlineData("keepalive_interval: soon", "session.keepalive_interval", "'soon' is not a duration")]
    public void Values_OutOfRange_OrNotDurations_AreRejected(string line, string key, string message)
    {
        var path = _files.Write("edge.yaml", $"session:\n  {line}\n");

        var errors = TestFiles.EdgeErrors(path);

        TestFiles.AssertError(errors, path, 2, key, message);
    }

    [Fact]
    public void UnknownKey_UnderSession_SuggestsTheRightOne()
    {
        var path = _files.Write("edge.yaml", "session:\n  keepalive_intervall: 5s\n");

        var errors = TestFiles.EdgeErrors(path);

        TestFiles.AssertError(errors, path, 2, "session.keepalive_intervall", "did you mean 'keepalive_interval'?");
    }
}
