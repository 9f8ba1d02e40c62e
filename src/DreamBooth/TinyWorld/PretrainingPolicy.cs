namespace DreamBooth.TinyWorld;

/// <summary>Which scenes the base model may see: everything except the <see cref="HeldOutSplit"/> and look-alikes of the <see cref="DemoSubject"/>.</summary>
public static class PretrainingPolicy
{
    /// <summary>True when <paramref name="scene"/> may appear in pretraining.</summary>
    public static bool Allows(SceneSpec scene) => !HeldOutSplit.Contains(scene) && !DemoSubject.Resembles(scene.Subject);
}
