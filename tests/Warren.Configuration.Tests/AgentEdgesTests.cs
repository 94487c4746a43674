namespace Warren.Configuration.Tests;

/// <summary>edges in agent.yaml (docs/configuration.md, docs/cluster.md "Agents"): the edges of a cluster, each with its fingerprint, and each mistake named.</summary>
public sealed class AgentEdgesTests : IDisposable
{
    private const string A = "aa00000000000000000000000000000000000000000000000000000000000001";
    private const string B = "bb00000000000000000000000000000000000000000000000000000000000002";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Each_edge_is_read_with_its_own_fingerprint_or_the_top_level_one()
    {
        var path = _files.Write("agent.yaml", $"token: t\nedge_fingerprint: {A}\nedges:\n  - edge: edge-a.example.com:7443\n  - edge: edge-b.example.com:7443\n    edge_fingerprint: \"{B.ToUpperInvariant()}\"\n");

        var config = ConfigLoader.LoadAgent(path, TestFiles.NoEnvironment);

        Assert.Equal(["edge-a.example.com:7443", "edge-b.example.com:7443"], config.Targets.Select(e => e.Edge));
        Assert.Equal([A, B], config.Targets.Select(e => e.EdgeFingerprint));
        Assert.Equal("edge-a.example.com:7443", config.Edge); // shown as the agent's edge in status and logs
        var again = ConfigLoader.ValidateAgent(config); // validating again changes nothing
        Assert.Equal(config.Edge, again.Edge);
        Assert.Equal(config.Targets, again.Targets);
    }

    [Fact]
    public void Without_edges_the_one_edge_is_the_only_target()
    {
        var path = _files.Write("agent.yaml", $"token: t\nedge: edge.example.com:7443\nedge_fingerprint: {A}\n");

        var target = Assert.Single(ConfigLoader.LoadAgent(path, TestFiles.NoEnvironment).Targets);

        Assert.Equal(new AgentEdgeConfig { Edge = "edge.example.com:7443", EdgeFingerprint = A }, target);
    }

    [Theory]
    [InlineData("edges:\n  - edge: a.example.com\n", 4, "edges[0].edge", "is not a valid address")]
    [InlineData("edges:\n  - edge_fingerprint: " + A + "\n", 4, "edges[0].edge", "required")]
    [InlineData("edges:\n  - edge: a.example.com:7443\n  - edge: a.example.com:7443\n", 5, "edges[1].edge", "is listed twice")]
    [InlineData("edges:\n  - edge: a.example.com:7443\n    edge_fingerprint: nope\n", 5, "edges[0].edge_fingerprint", "is not a SHA-256 fingerprint")]
    [InlineData("edge: b.example.com:7443\nedges:\n  - edge: a.example.com:7443\n", 4, "edges", "not both")]
    public void Mistakes_are_named_with_their_line(string body, int line, string field, string message)
    {
        var path = _files.Write("agent.yaml", "token: t\nname: n\n" + body);

        TestFiles.AssertError(TestFiles.AgentErrors(path), path, line, field, message);
    }
}
