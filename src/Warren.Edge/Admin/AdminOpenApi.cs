using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace Warren.Edge.Admin;

/// <summary>
/// The admin API's OpenAPI 3.1 document (docs/operations.md, "The admin API"), at <see cref="DocumentPath"/> on the
/// admin listener, behind the admin token like the API itself. ASP.NET Core's generator (Microsoft.AspNetCore.OpenApi)
/// makes it from the mapped endpoints and their metadata (summaries, statuses, bodies), so a new endpoint is described
/// by being mapped. The console's pages (/console/...) are a user interface, not the API, and are left out.
/// </summary>
internal static class AdminOpenApi
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/v1.json";
    private const string Scheme = "admin_token";

    public static void Add(IServiceCollection services)
    {
        // The generator describes bodies through the app's JSON options; with reflection off (a trimmed or
        // ahead-of-time compiled edge) those only know the types source-generated in AdminJson.
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, AdminJson.Default));
        services.AddOpenApi(DocumentName, ConfigureDocument);
    }

    private static void ConfigureDocument(OpenApiOptions options)
    {
        options.OpenApiVersion = OpenApiSpecVersion.OpenApi3_1;
        options.ShouldInclude = description => IsApi(description.RelativePath);
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Warren edge admin API",
                Version = "1",
                Description = "The edge's runtime API on its admin listener (docs/operations.md, \"The admin API\"). Every endpoint but /healthz and /readyz needs the admin token (admin_token, WARREN_ADMIN_TOKEN) as a bearer token; errors are {\"error\": \"...\"} with a 4xx status.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[Scheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "edge.yaml admin_token (or WARREN_ADMIN_TOKEN)",
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Scheme, document)] = [] }];
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (context.Description.RelativePath is "healthz" or "readyz")
            {
                operation.Security = []; // probes answer without the token
            }
            return Task.CompletedTask;
        });
    }

    public static void Map(WebApplication admin) => admin.MapOpenApi(DocumentPath);

    /// <summary>The API: everything on the admin listener but the console's pages (under /console, and / which leads there).</summary>
    internal static bool IsApi(string? relativePath) =>
        !string.IsNullOrEmpty(relativePath) && relativePath != "console" && !relativePath.StartsWith("console/", StringComparison.Ordinal);
}
