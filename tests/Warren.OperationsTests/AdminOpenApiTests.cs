using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.OpenApi;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// The admin API's OpenAPI document (docs/operations.md, "The admin API"): served behind the admin token, valid
/// OpenAPI, describing every endpoint the admin listener maps (all but the console's pages) and nothing else; and each
/// endpoint it describes refuses a request without the token, except the probes.
/// </summary>
public sealed partial class AdminOpenApiTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const string DocumentPath = "/openapi/v1.json";

    [Fact]
    public async Task The_document_is_valid_OpenAPI_behind_the_admin_token_and_describes_every_mapped_admin_route_each_of_which_refuses_no_token()
    {
        var adminToken = WarrenHarness.NewToken();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { ConfigureEdge = c => c with { AdminToken = adminToken } });
        var admin = $"http://127.0.0.1:{tunnel.Edge.AdminPort}";
        using (var anonymous = await tunnel.Client.GetAsync(admin + DocumentPath))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
        string json;
        using (var request = new HttpRequestMessage(HttpMethod.Get, admin + DocumentPath))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
            using var response = await tunnel.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            json = await response.Content.ReadAsStringAsync();
        }

        var read = OpenApiDocument.Parse(json, "json");
        Assert.Empty(read.Diagnostic?.Errors ?? []);
        var document = read.Document!;
        Assert.Empty(document.Validate(ValidationRuleSet.GetDefaultRuleSet()) ?? []);
        Assert.Equal(OpenApiSpecVersion.OpenApi3_1, read.Diagnostic!.SpecificationVersion);
        Assert.Contains("admin_token", document.Components!.SecuritySchemes!.Keys);

        var described = document.Paths.SelectMany(p => p.Value.Operations!.Select(o => (Method: o.Key.Method, Path: p.Key))).ToHashSet();
        var mapped = tunnel.Edge.AdminEndpoints
            .Where(e => e.RoutePattern.RawText is { } raw && IsApi(raw))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (Method: m, Path: Normalize(e.RoutePattern.RawText!))))
            .ToHashSet();
        Assert.Contains(("POST", "/api/services/{name}/drain"), mapped); // the enumeration sees the admin app's routes
        Assert.Empty(mapped.Except(described)); // every mapped route is described
        Assert.Empty(described.Except(mapped)); // and nothing else is

        foreach (var (method, path) in described)
        {
            var operation = document.Paths[path].Operations![new HttpMethod(method)];
            Assert.False(string.IsNullOrEmpty(operation.Summary), $"{method} {path} has a summary");
            using var request = new HttpRequestMessage(new HttpMethod(method), admin + PathParameter().Replace(path, "1"));
            using var response = await tunnel.Client.SendAsync(request);
            if (path is "/healthz" or "/readyz")
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Empty(operation.Security ?? []); // described as open, and open
            }
            else
            {
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} without the token: {response.StatusCode}");
                Assert.Null(operation.Security); // the document-wide bearer requirement holds
            }
        }
        Assert.NotEmpty(document.Security ?? []);
        var drain = document.Paths["/api/services/{name}/drain"].Operations![HttpMethod.Post];
        Assert.Contains(drain.Parameters!, p => p.Name == "owner" && p.In == ParameterLocation.Query);
        Assert.Contains("application/json", drain.RequestBody!.Content!.Keys);
        Assert.Contains("404", drain.Responses!.Keys);
    }

    /// <summary>The console's pages are a user interface, not the API: everything else on the admin listener is.</summary>
    private static bool IsApi(string route) => route != "/" && route != DocumentPath && route != "/console" && !route.StartsWith("/console/", StringComparison.Ordinal);

    /// <summary>"/api/sessions/{id:long}" as OpenAPI writes it: "/api/sessions/{id}".</summary>
    private static string Normalize(string route) => RouteParameter().Replace("/" + route.TrimStart('/'), "{$1}");

    [GeneratedRegex(@"\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")]
    private static partial Regex RouteParameter();

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex PathParameter();
}
