namespace Warren.FaultTests.Harness;

/// <summary>
/// Scenarios that load the machine (50 concurrent transfers, 16 workers, 1-to-7-byte sends) run one after the other: the edge runs in
/// the test process, and two of them at once on two cores starve its threads long enough to blur what is measured.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LoadCollection
{
    public const string Name = "load";
}
