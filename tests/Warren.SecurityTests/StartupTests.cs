using System.Text;
using Warren.Configuration;
using Warren.Edge;
using Warren.Edge.Tokens;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>No configuration path leaves agent authentication off; token management through the real binary.</summary>
public sealed class StartupTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Edge_without_any_token_refuses_to_start()
    {
        var data = TempDirectory();
        var config = WarrenHarness.LoopbackEdgeConfig(data, []);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => EdgeServer.StartAsync(config, Log.Factory));
        Assert.Contains("warren token create", error.Message, StringComparison.Ordinal);

        // A token store that exists but holds only revoked tokens is the same as none.
        using (var store = new TokenStore(data))
        {
            store.Create("old", ["old.test"], [], null);
            Assert.True(store.Revoke("old"));
        }
        error = await Assert.ThrowsAsync<InvalidOperationException>(() => EdgeServer.StartAsync(config, Log.Factory));
        Assert.Contains("warren token create", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // Unix modes; Windows inherits the folder's ACLs
    public async Task Edge_creates_its_data_folder_token_store_and_agent_link_key_private()
    {
        var data = Path.Combine(TempDirectory(), "data"); // the edge creates it
        var edge = await StartEdgeAsync(new HarnessOptions { ConfigureEdge = c => c with { DataDirectory = data } });
        using (var store = new TokenStore(data))
        {
            store.Create("private", ["private.test"], [], null); // the WAL files come now, with the database's mode
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(data));
        foreach (var file in new[] { "warren.db", "warren.db-wal", "warren.db-shm", "agent-link.key" }.Select(f => Path.Combine(data, f)).Where(File.Exists))
        {
            Assert.True((UnixFileMode.UserRead | UnixFileMode.UserWrite) == File.GetUnixFileMode(file), $"{file}: {File.GetUnixFileMode(file)}");
        }
        Assert.True(File.Exists(Path.Combine(data, "warren.db")));
        Assert.True(File.Exists(Path.Combine(data, "agent-link.key")));
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Edge_binary_without_any_token_exits_non_zero_whatever_the_config_source()
    {
        var data = TempDirectory();
        string[] listen = ["--http", "127.0.0.1:0", "--agents", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", data];
        // No file, only flags.
        var flagsOnly = await WarrenProcess.RunAsync(["edge", .. listen], Log);
        // A file that says tokens: [], with the agent's WARREN_TOKEN in the environment (the edge must not
        // take it as its own; chisel's CVE-2024-43798 was an unread AUTH variable).
        var file = Path.Combine(data, "edge.yaml");
        await File.WriteAllTextAsync(file, "tokens: []\n");
        var emptyList = await WarrenProcess.RunAsync(["edge", "--config", file, .. listen], Log,
            new Dictionary<string, string> { ["WARREN_TOKEN"] = WarrenHarness.NewToken(), ["AUTH"] = "user:pass" });
        foreach (var run in new[] { flagsOnly, emptyList })
        {
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains("warren token create", run.StandardError, StringComparison.Ordinal);
        }
        // A token whose value comes from an unset variable is a configuration error, never an empty token.
        await File.WriteAllTextAsync(file, "tokens:\n  - name: lab\n    token: ${WARREN_SEC_TEST_UNSET}\n    allow_hosts: [lab.test]\n");
        var unset = await WarrenProcess.RunAsync(["edge", "--config", file, .. listen], Log);
        Assert.NotEqual(0, unset.ExitCode);
        Assert.Contains("WARREN_SEC_TEST_UNSET", unset.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_create_list_revoke_through_the_binary_never_stores_or_shows_the_secret_again()
    {
        var data = TempDirectory();
        var create = await WarrenProcess.RunAsync(["token", "create", "--data", data, "--name", "lab", "--allow-host", "*.lab.test", "--allow-port", "2222", "--max-sessions", "2"], Log);
        Assert.Equal(0, create.ExitCode);
        var secret = create.StandardOutput.Trim();
        Assert.StartsWith(TokenStore.TokenPrefix, secret, StringComparison.Ordinal);
        Assert.Single(create.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)); // the secret alone, once
        var random = Convert.FromBase64String(secret[TokenStore.TokenPrefix.Length..].Replace('-', '+').Replace('_', '/') + "=");
        Assert.Equal(32, random.Length); // 256 bits
        Assert.Contains("only time", create.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, create.StandardError, StringComparison.Ordinal);

        var list = await WarrenProcess.RunAsync(["token", "list", "--data", data], Log);
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("lab", list.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("active", list.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, list.StandardOutput + list.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain(secret[TokenStore.TokenPrefix.Length..], list.StandardOutput, StringComparison.Ordinal);

        // Nothing on disk holds the secret (database, WAL, anything else in the data directory).
        foreach (var path in Directory.GetFiles(data, "*", SearchOption.AllDirectories))
        {
            var bytes = Encoding.Latin1.GetString(await File.ReadAllBytesAsync(path));
            Assert.DoesNotContain(secret[TokenStore.TokenPrefix.Length..], bytes, StringComparison.Ordinal);
            Assert.DoesNotContain(secret[TokenStore.TokenPrefix.Length..][..16], bytes, StringComparison.Ordinal);
        }

        // The printed secret is what an edge on this data directory accepts, with the grants given.
        using (var validator = new TokenValidator([], new TokenStore(data)))
        {
            var grant = validator.Validate(secret);
            Assert.NotNull(grant);
            Assert.Equal("lab", grant.Name);
            Assert.Equal(["*.lab.test"], grant.AllowHosts);
            Assert.Equal([2222], grant.AllowPorts);
            Assert.Equal(2, grant.MaxSessions);
            Assert.Null(validator.Validate(secret + "x"));
            Assert.Null(validator.Validate(new string('a', TokenValidator.MaxTokenLength + 1)));
        }

        var revoke = await WarrenProcess.RunAsync(["token", "revoke", "--data", data, "lab"], Log);
        Assert.Equal(0, revoke.ExitCode);
        list = await WarrenProcess.RunAsync(["token", "list", "--data", data], Log);
        Assert.Contains("revoked", list.StandardOutput, StringComparison.Ordinal);
        using (var validator = new TokenValidator([], new TokenStore(data)))
        {
            Assert.Null(validator.Validate(secret));
        }
        var again = await WarrenProcess.RunAsync(["token", "revoke", "--data", data, "lab"], Log);
        Assert.NotEqual(0, again.ExitCode);
    }
}
