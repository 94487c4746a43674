namespace Warren.Configuration.Tests;

/// <summary>cluster in edge.yaml (docs/configuration.md, "cluster"; docs/cluster.md): absent by default, every key, each mistake named with its file and line.</summary>
public sealed class ClusterConfigTests : IDisposable
{
    private const string Secret = "0123456789abcdef0123456789abcdef";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void No_cluster_section_is_one_edge_alone()
    {
        Assert.Null(ConfigLoader.LoadEdge(_files.Write("edge.yaml", "data: ./state\n"), TestFiles.NoEnvironment).Cluster);
    }

    [Fact]
    public void Every_key_is_read_the_secret_from_the_environment()
    {
        var path = _files.Write("edge.yaml", "cluster:\n  redis: 10.0.0.5:6379,password=x\n  name: edge-1\n  secret: ${CLUSTER_SECRET}\n  listen: 10.0.0.7:7444\n  key_prefix: \"prod:\"\n  lease: 10s\n");
        var environment = TestFiles.NoEnvironment;
        environment["CLUSTER_SECRET"] = Secret;

        var cluster = ConfigLoader.LoadEdge(path, environment).Cluster!;

        Assert.Equal("10.0.0.5:6379,password=x", cluster.Redis);
        Assert.Equal("edge-1", cluster.Name);
        Assert.Equal(Secret, cluster.Secret);
        Assert.Equal("10.0.0.7:7444", cluster.Listen);
        Assert.Null(cluster.Advertise);
        Assert.Equal("prod:", cluster.KeyPrefix);
        Assert.Equal(TimeSpan.FromSeconds(10), cluster.Lease);
    }

    [Fact]
    public void The_secret_is_read_from_secret_file_without_its_final_newline()
    {
        var secret = _files.Write("cluster.secret", Secret + "\n");
        var path = _files.Write("edge.yaml", $"cluster:\n  redis: 127.0.0.1:6379\n  name: a\n  secret_file: {secret}\n  listen: 0.0.0.0:7444\n  advertise: edge-a.internal:7444\n");

        var cluster = ConfigLoader.LoadEdge(path, TestFiles.NoEnvironment).Cluster!;

        Assert.Equal(Secret, cluster.Secret);
        Assert.Equal("edge-a.internal:7444", cluster.Advertise);
    }

    [Theory]
    [InlineData("redis: \"a:b:c\"", "cluster.redis", "is not a Redis configuration string")]
    [InlineData("name: \"edge 1\"", "cluster.name", "is not a valid edge name")]
    [InlineData("secret: short", "cluster.secret", "use at least 32")]
    [InlineData("listen: 0.0.0.0:7444", "cluster.advertise", "required when cluster.listen", true)]
    [InlineData("advertise: nowhere", "cluster.advertise", "is not host:port")]
    [InlineData("key_prefix: \"a b\"", "cluster.key_prefix", "is not a valid key prefix")]
    [InlineData("lease: 1s", "cluster.lease", "must be 3s to 600s")]
    [InlineData("listen: 127.0.0.1:7443", "cluster.listen", "")]
    [InlineData("peers: 3", "cluster.peers", "")]
    public void Bad_values_are_errors(string body, string field, string message, bool atSection = false)
    {
        var defaults = new Dictionary<string, string>
        {
            ["redis"] = "127.0.0.1:6379", ["name"] = "edge-1", ["secret"] = Secret, ["listen"] = "127.0.0.1:7444",
        };
        defaults.Remove(body.Split(':')[0]);
        var lines = string.Concat(defaults.Select(p => $"  {p.Key}: {p.Value}\n"));
        var path = _files.Write("edge.yaml", $"listen:\n  agents: 127.0.0.1:7443\ncluster:\n{lines}  {body}\n");

        var errors = TestFiles.EdgeErrors(path);

        var line = atSection ? 3 : 4 + defaults.Count; // a missing key is placed at its section's line
        TestFiles.AssertError(errors, path, line, field, message);
    }

    [Fact]
    public void Missing_required_keys_are_each_named()
    {
        var path = _files.Write("edge.yaml", "cluster:\n  listen: 127.0.0.1:7444\n");

        var errors = TestFiles.EdgeErrors(path);

        Assert.Contains(errors, e => e.Path == "cluster.redis" && e.Message.StartsWith("required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "cluster.name" && e.Message.StartsWith("required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Path == "cluster.secret" && e.Message.StartsWith("required", StringComparison.Ordinal));
    }
}
