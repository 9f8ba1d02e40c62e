using DreamBooth.TinyWorld;

namespace DreamBooth.Evaluation;

/// <summary>
/// What the probe sees in one image: the general image embedding (<see cref="Features"/>, penultimate layer), the
/// subject embedding (<see cref="Identity"/>, unit length), the perceptual embedding (<see cref="Perceptual"/>: the
/// stage feature maps with each position's channel vector scaled to unit length, then each stage scaled by
/// 1/sqrt(positions), concatenated), and the predicted label and its probability per head.
/// </summary>
public sealed record ProbeResult(
    float[] Features,
    float[] Identity,
    float[] Perceptual,
    IReadOnlyDictionary<string, int> Labels,
    IReadOnlyDictionary<string, float> Confidence)
{
    public SubjectClass Class => (SubjectClass)Labels[ProbeTasks.Class];
    public WorldColor Color => (WorldColor)Labels[ProbeTasks.Color];
    public Pattern Pattern => (Pattern)Labels[ProbeTasks.Pattern];
    public Marking Marking => (Marking)Labels[ProbeTasks.Marking];
    public WorldContext Context => (WorldContext)Labels[ProbeTasks.Context];
    public RenderStyle Style => (RenderStyle)Labels[ProbeTasks.Style];

    /// <summary>Cosine similarity of two subject embeddings.</summary>
    public static double IdentitySimilarity(ProbeResult a, ProbeResult b) => Dot(a.Identity, b.Identity);

    /// <summary>
    /// LPIPS-style perceptual distance (uniform layer weights): the mean over stages and positions of 1 − cos between
    /// the two images' channel vectors, in [0, 2]; 0 for identical images. Sensitive to layout, pose and texture.
    /// </summary>
    public static double PerceptualDistance(ProbeResult a, ProbeResult b, int stages)
    {
        double sum = 0;
        for (int i = 0; i < a.Perceptual.Length; i++)
        {
            double d = a.Perceptual[i] - b.Perceptual[i];
            sum += d * d;
        }
        return sum / stages / 2;
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
