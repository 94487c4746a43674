using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>Base of the policy suites: a tunnel whose app.test service carries the policy under test.</summary>
public abstract class PolicyTest(ITestOutputHelper output) : LoggedTest(output)
{
    /// <summary>A tunnel publishing the sample backend as app.test with <paramref name="policy"/> in agent.yaml.</summary>
    internal async Task<WarrenHarness> StartAsync(PolicyConfig? policy, Func<EdgeConfig, EdgeConfig>? edge = null, bool startAgent = true)
    {
        return Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("app", WarrenHarness.AppHost) with { Policy = policy }],
            ConfigureEdge = edge,
            StartAgent = startAgent,
        }));
    }

    internal static async Task<HttpResponseMessage> SendAsync(WarrenHarness harness, string path, Action<HttpRequestMessage>? configure = null, HttpMethod? method = null, string host = WarrenHarness.AppHost)
    {
        using var request = harness.Request(method ?? HttpMethod.Get, path, host);
        configure?.Invoke(request);
        return await harness.Client.SendAsync(request);
    }

    internal static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    /// <summary>A bcrypt hash as `htpasswd -nbB` writes it ($2y$).</summary>
    internal static string Htpasswd(string user, string password) =>
        $"{user}:{BCrypt.Net.BCrypt.HashPassword(password, 5).Replace("$2a$", "$2y$", StringComparison.Ordinal)}";
}
