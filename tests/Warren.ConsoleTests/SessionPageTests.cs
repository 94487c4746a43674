using System.Globalization;
using System.Net;
using Xunit.Abstractions;

namespace Warren.ConsoleTests;

/// <summary>The console's page of one agent session (docs/console.md, "Session").</summary>
public sealed class SessionPageTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string AdminToken = "adm-" + WarrenHarness.NewToken();

    [Theory]
    [InlineData(true, "sealed records")]
    [InlineData(false, "TLS")]
    public async Task It_names_what_the_agent_link_runs_on(bool sealedRecords, string link)
    {
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { AdminToken = AdminToken, AgentTls = c.AgentTls with { SealedRecords = sealedRecords } },
        }));
        using var console = ConsoleClient.For(edge);
        using (var login = await console.LoginAsync(AdminToken))
        {
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        }
        var session = Assert.Single(edge.Edge.State.Sessions);

        var page = await console.Http.GetStringAsync($"/console/sessions/{session.Id.ToString(CultureInfo.InvariantCulture)}");

        Assert.Contains($"<dt>Link</dt><dd>{link}</dd>", page, StringComparison.Ordinal);
    }
}
